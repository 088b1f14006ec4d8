/* SPDX-License-Identifier: MIT */
/*
 * core/transfer.c - frames that change hands: GNTTABOP_transfer (a page
 * moves to another domain through its accept_transfer entry) and
 * XENMEM_exchange (a domain swaps frames of its own for new ones).  Semantics
 * and error codes follow Xen 4.17's gnttab_transfer() and memory_exchange().
 *
 * A unit is a memfd that its owner's processes have mapped and may have kept
 * a descriptor of, and nothing can take that back.  So a frame never moves:
 * the receiver gets a new unit holding a copy of the page, and the sender's
 * unit is cut loose (out of its p2m, uncharged, gntd's descriptor closed).
 * Whatever the sender still holds of it is memory nobody else can see.
 */
#include "transfer.h"
#include "core_int.h"
#include "table.h"

#include <errno.h>
#include <stdlib.h>

#define TRANSFER_RETRIES 5 /* against an entry that keeps changing, as Xen */
#define DOMU_MAX_ORDER 9   /* Xen x86: PAGETABLE_ORDER for a domU */
#define CTLDOM_MAX_ORDER 18

/* ---- GNTTABOP_transfer ------------------------------------------------ */

/* Xen's steal_page: a page of the caller's memory that nothing else holds.
 * refs counts the p2m and every exposure, parked and lingering ones too, so
 * a page anyone maps (or kept) is refused. */
static bool stealable(const struct gnt_domain *self, const struct gnt_unit *u)
{
	return u->owner == self->id && u->in_p2m && u->refs == 1 && !u->expos;
}

/* Take the page at p2m index i away from self.  Returns a copy of it in a new
 * unit charged to nobody, or NULL (allocation failed: the page is gone all
 * the same). */
static struct gnt_unit *steal(struct gnt_core *c, struct gnt_domain *self, uint32_t i)
{
	struct gnt_unit *old = self->p2m[i];
	struct gnt_unit *nu = gnt__unit_new(c, self->id, 1);
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);

	if (nu && ops->unit_copy(ctx, old->backing, 0, nu->backing, 0, GNT_PAGE_SIZE) < 0) {
		gnt__unit_discard(c, nu);
		nu = NULL;
	}
	/* the old unit's last reference: uncharged and closed */
	gnt__p2m_remove(c, self, i);
	return nu;
}

/* Xen's gnttab_prepare_for_transfer: e's entry ref must be exactly
 * GTF_accept_transfer for `from`; mark it committed.  In either version the
 * flags are the entry header's (v2 keeps only reading/writing apart). */
static int16_t commit_entry(struct gnt_domain *e, grant_ref_t ref, uint16_t from)
{
	uint32_t *combo, old;

	if (ref >= gnt_core_nr_entries(e))
		return GNTST_general_error;
	combo = gnt__entry_header_word(e, ref); /* flags | domid << 16 */
	old = __atomic_load_n(combo, __ATOMIC_ACQUIRE);
	for (int i = 0; i < TRANSFER_RETRIES; i++) {
		if ((uint16_t)old != GTF_accept_transfer || (uint16_t)(old >> 16) != from)
			return GNTST_general_error;
		/* the receiver may not touch the entry from here until completed */
		if (__atomic_compare_exchange_n(combo, &old, old | GTF_transfer_committed, false,
						__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			return GNTST_okay;
	}
	return GNTST_general_error; /* unstable entry */
}

/* Give nu (a stolen page's copy) to the domain and entry op names.  On
 * failure nu is the caller's to discard. */
static int16_t deliver(struct gnt_core *c, struct gnt_domain *self,
		       const struct gnttab_transfer *op, struct gnt_unit *nu)
{
	struct gnt_domain *e = gnt_core_domain(c, op->domid);
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);
	uint64_t gfn;
	int16_t st;

	if (!e)
		return GNTST_bad_domain; /* DOMID_SELF too, as Xen */
	if (e->version != 2 && e->next_gfn > UINT32_MAX)
		return GNTST_address_too_big; /* a v1 entry's frame has 32 bits */
	/* overflow-safe headroom check (XSA-385); a dying domain takes nothing */
	if (e->state != GNT_DOM_ALIVE || e->tot_pages >= e->max_pages)
		return GNTST_general_error;
	st = commit_entry(e, op->ref, self->id);
	if (st)
		return st;
	gfn = e->next_gfn;
	nu->owner = e->id;
	if (ops->unit_owner)
		ops->unit_owner(ctx, nu->backing, e->id);
	nu->base_gfn = gfn;
	if (gnt__p2m_insert(e, nu) < 0)
		return GNTST_general_error; /* committed, never completed: as Xen's
					       failed assign_pages */
	e->next_gfn++;
	e->tot_pages++;
	if (e->version == 2)
		__atomic_store_n(&((grant_entry_v2_t *)(void *)e->table)[op->ref].full_page.frame,
				 gfn, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&e->table[op->ref].frame, (uint32_t)gfn, __ATOMIC_RELAXED);
	/* the frame is visible before the receiver sees the transfer completed
	 * (flags are the low half of the header word, little endian) */
	__atomic_fetch_or(gnt__entry_header_word(e, op->ref), (uint32_t)GTF_transfer_completed,
			  __ATOMIC_RELEASE);
	return GNTST_okay;
}

static int16_t transfer_one(struct gnt_core *c, struct gnt_domain *self,
			    const struct gnttab_transfer *op)
{
	int64_t i = gnt__p2m_index(self, op->mfn);
	struct gnt_unit *nu;
	int16_t st;

	/* the only failures that leave the page with the sender (Xen) */
	if (i < 0 || self->p2m[i]->npages != 1 || !stealable(self, self->p2m[i]))
		return GNTST_bad_page;
	nu = steal(c, self, (uint32_t)i);
	if (!nu)
		return GNTST_general_error;
	st = deliver(c, self, op, nu);
	if (st)
		gnt__unit_discard(c, nu);
	return st;
}

int gnt_core_transfer(struct gnt_core *c, struct gnt_domain *self,
		      struct gnttab_transfer *ops, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		ops[i].status = transfer_one(c, self, &ops[i]);
	return 0;
}

/* ---- XENMEM_exchange -------------------------------------------------- */

struct xchg {
	struct gnt_core *c;
	struct gnt_domain *d;
	const struct xen_memory_exchange *x;
	const uint64_t *in_gfns;
	uint32_t in_chunk_order, out_chunk_order;
	/* the chunk being done */
	struct gnt_unit **in;  /* units given up, each marked by an extra ref */
	uint32_t nin;
	struct gnt_unit **out; /* units made, appended to d's p2m */
	uint32_t nout;
};

static void unmark_inputs(struct xchg *w)
{
	while (w->nin)
		w->in[--w->nin]->refs--;
}

/* Add the unit covering gfn [pos, pos+len) to the chunk's inputs: whole units
 * only (a unit is one memfd), each page once.  *open is the unit whose pages
 * the previous extent left half done.  Returns pages consumed or -EINVAL. */
static int64_t take_pages(struct xchg *w, uint64_t pos, uint64_t len, struct gnt_unit **open,
			  uint64_t *next)
{
	int64_t i = gnt__p2m_index(w->d, pos);
	struct gnt_unit *u;
	uint64_t end, n;

	if (i < 0)
		return -EINVAL;
	u = w->d->p2m[i];
	if (*open ? (u != *open || pos != *next) : pos != u->base_gfn)
		return -EINVAL;
	/* Xen's steal_page: a page someone maps, or already taken, is -EINVAL */
	if (!*open && !stealable(w->d, u))
		return -EINVAL;
	if (!*open) {
		u->refs++; /* the mark: a second visit finds it not stealable */
		w->in[w->nin++] = u;
	}
	end = u->base_gfn + u->npages;
	n = end - pos < len ? end - pos : len;
	*next = pos + n;
	*open = *next == end ? NULL : u;
	return (int64_t)n;
}

static int collect_inputs(struct xchg *w, uint64_t chunk)
{
	uint64_t per = (uint64_t)1 << w->x->in.extent_order, next = 0;
	uint64_t first = chunk << w->in_chunk_order;
	struct gnt_unit *open = NULL;

	for (uint64_t k = 0; k < ((uint64_t)1 << w->in_chunk_order); k++) {
		uint64_t pos = w->in_gfns[first + k], left = per;
		while (left) {
			int64_t n = take_pages(w, pos, left, &open, &next);
			if (n < 0)
				return (int)n;
			pos += (uint64_t)n;
			left -= (uint64_t)n;
		}
	}
	return open ? -EINVAL : 0; /* the chunk ends inside a unit */
}

static void drop_outputs(struct xchg *w)
{
	/* they are the last units of the p2m: appended by make_outputs */
	w->d->p2m_len -= w->nout;
	while (w->nout)
		gnt__unit_discard(w->c, w->out[--w->nout]);
}

/* New units for the chunk, in d's p2m but not yet charged. */
static int make_outputs(struct xchg *w)
{
	uint32_t pages = 1u << w->x->out.extent_order;
	uint64_t gfn = w->d->next_gfn;

	for (uint64_t j = 0; j < ((uint64_t)1 << w->out_chunk_order); j++) {
		struct gnt_unit *u = gnt__unit_new(w->c, w->d->id, pages);
		if (!u)
			return -ENOMEM;
		u->base_gfn = gfn;
		if (gnt__p2m_insert(w->d, u) < 0) {
			gnt__unit_discard(w->c, u);
			return -ENOMEM;
		}
		w->out[w->nout++] = u;
		gfn += pages;
	}
	return 0;
}

/* Beyond this point the chunk cannot fail. */
static void commit_chunk(struct xchg *w, uint64_t chunk, uint64_t *out_gfns,
			 struct gnt_unit **made, uint32_t *nmade)
{
	uint64_t first = chunk << w->out_chunk_order;

	for (uint32_t k = 0; k < w->nin; k++) {
		struct gnt_unit *u = w->in[k];
		gnt__p2m_remove(w->c, w->d, (uint32_t)gnt__p2m_index(w->d, u->base_gfn));
		gnt__unit_put(w->c, u); /* the mark: uncharges d, frees u */
	}
	w->nin = 0;
	for (uint32_t j = 0; j < w->nout; j++) {
		out_gfns[first + j] = w->out[j]->base_gfn;
		made[(*nmade)++] = w->out[j];
		w->d->tot_pages += w->out[j]->npages; /* as many as went: neutral */
	}
	w->d->next_gfn += (uint64_t)w->nout << w->x->out.extent_order;
	w->nout = 0;
}

static int exchange_chunk(struct xchg *w, uint64_t chunk, uint64_t *out_gfns,
			  struct gnt_unit **made, uint32_t *nmade)
{
	int rc = collect_inputs(w, chunk);

	if (rc == 0)
		rc = make_outputs(w);
	if (rc < 0) {
		drop_outputs(w);
		unmark_inputs(w);
		return rc;
	}
	commit_chunk(w, chunk, out_gfns, made, nmade);
	return 0;
}

static long exchange_check(struct gnt_core *c, struct gnt_domain *self,
			   const struct xen_memory_exchange *x)
{
	uint32_t in_o = x->in.extent_order, out_o = x->out.extent_order;
	uint32_t max = self->id == 0 ? CTLDOM_MAX_ORDER : DOMU_MAX_ORDER;

	if ((in_o > out_o ? in_o : out_o) > max)
		return -EPERM;
	if (x->nr_exchanged > x->in.nr_extents || x->in.domid != x->out.domid ||
	    (UINT64_MAX >> in_o) < x->in.nr_extents ||
	    (UINT64_MAX >> out_o) < x->out.nr_extents ||
	    (x->in.nr_extents << in_o) != (x->out.nr_extents << out_o))
		return -EINVAL;
	if (x->out.mem_flags & ~0xFFu) /* address bits: every gfn satisfies them */
		return -EINVAL;
	if (x->in.domid != DOMID_SELF && x->in.domid != self->id)
		return gnt_core_domain(c, x->in.domid) ? -EPERM : -ESRCH;
	return 0;
}

long gnt_core_exchange(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_exchange *x, const uint64_t *in_gfns,
		       uint64_t *out_gfns, struct gnt_unit **made, uint32_t max_made,
		       uint32_t *nmade)
{
	struct xchg w = {.c = c, .d = self, .x = x, .in_gfns = in_gfns};
	uint32_t in_o = x->in.extent_order, out_o = x->out.extent_order;
	uint64_t chunk, start, end;
	long rc = exchange_check(c, self, x);

	*nmade = 0;
	if (rc < 0 || x->nr_exchanged == x->in.nr_extents)
		return rc;
	w.in_chunk_order = out_o > in_o ? out_o - in_o : 0;
	w.out_chunk_order = in_o > out_o ? in_o - out_o : 0;
	if (((uint64_t)1 << w.out_chunk_order) > max_made)
		return -ENOMEM; /* one chunk would need more units than a reply carries */
	w.in = calloc((size_t)1 << (in_o > out_o ? in_o : out_o), sizeof(*w.in));
	w.out = calloc((size_t)1 << w.out_chunk_order, sizeof(*w.out));
	if (!w.in || !w.out) {
		free(w.in);
		free(w.out);
		return -ENOMEM;
	}
	start = x->nr_exchanged >> w.in_chunk_order;
	end = x->in.nr_extents >> w.in_chunk_order;
	for (chunk = start; chunk < end; chunk++) {
		/* a full reply: stop at a chunk boundary, the caller resumes */
		if (*nmade + ((uint64_t)1 << w.out_chunk_order) > max_made)
			break;
		rc = exchange_chunk(&w, chunk, out_gfns, made, nmade);
		if (rc < 0)
			break;
	}
	x->nr_exchanged = chunk == end ? x->in.nr_extents : chunk << w.in_chunk_order;
	free(w.in);
	free(w.out);
	return rc;
}
