/* SPDX-License-Identifier: MIT */
/*
 * core/core.c - the grant-table state machine.  Semantics follow Xen's
 * xen/common/grant_table.c (4.17): per-element GNTST_* statuses, 8-bit pin
 * counters, GTF_reading/GTF_writing set with a bounded cmpxchg loop on the
 * shared entry, frame latched at first pin, zombie granters.
 *
 * The shared table is written by an untrusted domain at any time: every read
 * of it is a single atomic load, and nothing read from it is trusted after
 * the cmpxchg that pins it.
 */
#include "core.h"
#include "core_int.h"
#include "evtchn.h"
#include "table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gnt_core {
	const struct gnt_core_ops *ops;
	void *ctx;
	struct gnt_limits def;
	struct gnt_domain *doms[GNT_NR_DOMIDS];
	uint32_t next_domid;
	struct gnt_unit **units;
	uint32_t nunits, units_cap, units_live;
	uint32_t unit_free_hint;
	uint64_t nexpos, nlinger;
};

#define PIN_LIMIT 128u /* Xen refuses a pin while any counter has bit 7 set */

/* ---- units and p2m ---------------------------------------------------- */

struct gnt_unit *gnt_core_unit(struct gnt_core *c, uint32_t id)
{
	return id < c->nunits ? c->units[id] : NULL;
}

/* Free a unit nobody holds, without touching anyone's page count. */
static void unit_discard(struct gnt_core *c, struct gnt_unit *u)
{
	c->ops->unit_free(c->ctx, u->backing);
	c->units[u->id] = NULL;
	if (u->id < c->unit_free_hint)
		c->unit_free_hint = u->id;
	c->units_live--;
	free(u);
}

static void unit_put(struct gnt_core *c, struct gnt_unit *u)
{
	if (--u->refs)
		return;
	/* a page is charged to its owner until it is really gone (Xen) */
	if (c->doms[u->owner])
		c->doms[u->owner]->tot_pages -= u->npages;
	unit_discard(c, u);
}

static struct gnt_unit *unit_new(struct gnt_core *c, uint16_t owner, uint32_t npages)
{
	struct gnt_unit *u;
	uint32_t id;

	for (id = c->unit_free_hint; id < c->nunits; id++)
		if (!c->units[id])
			break;
	if (id == c->nunits) {
		if (c->nunits == c->units_cap) {
			uint32_t cap = c->units_cap ? c->units_cap * 2 : 64;
			struct gnt_unit **n = realloc(c->units, cap * sizeof(*n));
			if (!n)
				return NULL;
			c->units = n;
			c->units_cap = cap;
		}
		c->units[c->nunits++] = NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	if (c->ops->unit_alloc(c->ctx, owner, npages, &u->backing) < 0) {
		free(u);
		return NULL;
	}
	u->id = id;
	u->owner = owner;
	u->npages = npages;
	u->refs = 1;
	u->in_p2m = true;
	c->units[id] = u;
	c->unit_free_hint = id + 1;
	c->units_live++;
	return u;
}

static int p2m_insert(struct gnt_domain *d, struct gnt_unit *u)
{
	if (d->p2m_len == d->p2m_cap) {
		uint32_t cap = d->p2m_cap ? d->p2m_cap * 2 : 16;
		struct gnt_unit **n = realloc(d->p2m, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->p2m = n;
		d->p2m_cap = cap;
	}
	/* gfns are handed out in increasing order: append keeps it sorted */
	d->p2m[d->p2m_len++] = u;
	return 0;
}

static int64_t p2m_index(const struct gnt_domain *d, uint64_t gfn)
{
	uint32_t lo = 0, hi = d->p2m_len;

	/* batches walk one unit page by page: try the last hit first */
	if (d->p2m_hint < d->p2m_len && gfn >= d->p2m[d->p2m_hint]->base_gfn &&
	    gfn < d->p2m[d->p2m_hint]->base_gfn + d->p2m[d->p2m_hint]->npages)
		return d->p2m_hint;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct gnt_unit *u = d->p2m[mid];
		if (gfn < u->base_gfn)
			hi = mid;
		else if (gfn >= u->base_gfn + u->npages)
			lo = mid + 1;
		else
			return ((struct gnt_domain *)d)->p2m_hint = mid;
	}
	return -1;
}

struct gnt_unit *gnt_core_unit_of_gfn(struct gnt_domain *d, uint64_t gfn,
				      uint32_t *page)
{
	int64_t i = p2m_index(d, gfn);
	if (i < 0)
		return NULL;
	if (page)
		*page = (uint32_t)(gfn - d->p2m[i]->base_gfn);
	return d->p2m[i];
}

/* ---- domains ---------------------------------------------------------- */

static int table_init(struct gnt_core *c, struct gnt_domain *d)
{
	void *mem;
	int rc = c->ops->table_alloc(c->ctx, d->id, d->max_frames, &mem,
				     &d->table_backing);
	if (rc < 0)
		return rc;
	d->table = mem;
	d->active = calloc((size_t)d->max_frames * GNT_ENTRIES_PER_FRAME,
			   sizeof(*d->active));
	if (!d->active) {
		c->ops->table_free(c->ctx, mem, d->table_backing, d->max_frames);
		return -ENOMEM;
	}
	for (size_t i = 0; i < (size_t)d->max_frames * GNT_ENTRIES_PER_FRAME; i++)
		d->active[i].unit = GNT_NO_UNIT;
	d->nr_frames = 1; /* INITIAL_NR_GRANT_FRAMES */
	d->version = 1;   /* Xen's default until set_version */
	return 0;
}

int gnt_core_domain_create(struct gnt_core *c, uint16_t want_id, const char *name,
			   const struct gnt_limits *lim, struct gnt_domain **out)
{
	struct gnt_domain *d;
	uint32_t id = want_id;
	int rc;

	if (!lim)
		lim = &c->def;
	if (lim->max_grant_frames < 1 || lim->max_grant_frames > 4096 ||
	    lim->max_maptrack_frames < 1 || lim->max_maptrack_frames > 65536)
		return -EINVAL;
	if (name && strlen(name) >= sizeof(((struct gnt_domain *)0)->name))
		return -EINVAL;
	if (name && gnt_core_domain_by_name(c, name))
		return -EEXIST;
	if (want_id == 0 && c->doms[0]) {
		/* round robin: ids are not reused while anything of the old lives */
		uint32_t i;
		for (i = 0; i < GNT_MAX_DOMID; i++) {
			id = c->next_domid;
			c->next_domid = c->next_domid % GNT_MAX_DOMID + 1;
			if (!c->doms[id])
				break;
		}
		if (i == GNT_MAX_DOMID)
			return -ENOSPC;
	} else if (id > GNT_MAX_DOMID || c->doms[id]) {
		return -EEXIST;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->id = (uint16_t)id;
	d->state = GNT_DOM_ALIVE;
	snprintf(d->name, sizeof(d->name), "%s", name ? name : "");
	d->max_pages = lim->max_pages;
	d->max_frames = lim->max_grant_frames;
	d->mt_limit = lim->max_maptrack_frames * GNT_MAPTRACK_PER_FRAME;
	d->mt_free = UINT32_MAX;
	d->ev_max = lim->max_evtchn ? lim->max_evtchn : 1024;
	/* Xen's 2-level ABI ends at 4096 ports on 64-bit (gnt's inboxes too) */
	if (d->ev_max > 4096)
		d->ev_max = 4096;
	d->next_gfn = 0x100; /* low gfns stay unused so small numbers are bogus */
	rc = table_init(c, d);
	if (rc < 0) {
		free(d);
		return rc;
	}
	c->doms[id] = d;
	*out = d;
	return 0;
}

const struct gnt_core_ops *gnt__core_ops(struct gnt_core *c, void **ctx)
{
	*ctx = c->ctx;
	return c->ops;
}

struct gnt_domain *gnt_core_domain(struct gnt_core *c, uint32_t id)
{
	return id < GNT_NR_DOMIDS ? c->doms[id] : NULL;
}

struct gnt_domain *gnt_core_domain_by_name(struct gnt_core *c, const char *name)
{
	for (uint32_t i = 0; i < GNT_NR_DOMIDS; i++)
		if (c->doms[i] && c->doms[i]->state == GNT_DOM_ALIVE &&
		    !strcmp(c->doms[i]->name, name))
			return c->doms[i];
	return NULL;
}

struct gnt_domain *gnt_core_domain_next(struct gnt_core *c, uint32_t after)
{
	for (uint32_t i = after; i < GNT_NR_DOMIDS; i++)
		if (c->doms[i])
			return c->doms[i];
	return NULL;
}

struct gnt_core *gnt_core_create(const struct gnt_core_ops *ops, void *ctx,
				 const struct gnt_limits *defaults)
{
	struct gnt_core *c = calloc(1, sizeof(*c));
	struct gnt_domain *d0;

	if (!c)
		return NULL;
	c->ops = ops;
	c->ctx = ctx;
	c->def = *defaults;
	c->next_domid = 1;
	if (gnt_core_domain_create(c, 0, "Domain-0", NULL, &d0) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* ---- pins on shared entries ------------------------------------------ */

static inline unsigned busy(const struct gnt_active *a)
{
	return (unsigned)a->rd + a->wr + a->xr + a->xw;
}

/* What a pin is for: a mapping, an exposure's cover, a copy, or the hop a
 * transitive grant makes (which may not be transitive itself). */
enum pin_use { USE_MAP, USE_EXPO, USE_COPY, USE_HOP };

static struct gnt_domain *live_domain(struct gnt_core *c, struct gnt_domain *self,
				      uint32_t id, int16_t *st);
static int16_t pin_ref(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, uint16_t to,
		       bool write, enum pin_use use);
static void unpin_ref(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, bool write,
		      bool expo);

/* A v2 transitive grant: g lets `to` copy what (trans_domid, trans_gref)
 * grants to g.  One hop; g may not name itself; the grant back to `to`'s
 * own domain is allowed (Xen). */
static int16_t latch_transitive(struct gnt_core *c, struct gnt_domain *g, struct gnt_active *a,
				uint16_t to, bool write, enum pin_use use, const struct gnt_entry *e)
{
	struct gnt_domain *td;
	struct gnt_active *ta;
	int16_t st;

	if (use != USE_COPY || e->trans_domid == g->id)
		return GNTST_general_error;
	td = live_domain(c, g, e->trans_domid, &st);
	if (!td)
		return GNTST_general_error;
	st = pin_ref(c, td, e->trans_gref, g->id, write, USE_HOP);
	if (st)
		return st;
	ta = &td->active[e->trans_gref];
	a->trans = a->sub_page = true;
	a->trans_dom = td->id;
	a->trans_gref = e->trans_gref;
	a->start = ta->start;
	a->length = ta->length;
	a->domid = to;
	a->page = ta->page;
	a->gfn = ta->gfn;
	a->unit = ta->unit;
	return GNTST_okay;
}

/* First pin of ref: read the entry once, after its status is set (the
 * guest may not change a pinned entry, and what it writes later is not
 * looked at), and latch what it grants. */
static int16_t latch(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, uint16_t to,
		     bool write, enum pin_use use, uint16_t flags)
{
	struct gnt_active *a = &g->active[ref];
	struct gnt_entry e;
	struct gnt_unit *u;
	uint32_t page;

	gnt_core_entry(g, ref, &e);
	a->trans = a->sub_page = false;
	a->start = 0;
	a->length = GNT_PAGE_SIZE;
	if (g->version == 2 && (flags & GTF_type_mask) == GTF_transitive)
		return latch_transitive(c, g, a, to, write, use, &e);
	if (g->version == 2 && (flags & GTF_sub_page)) {
		if ((uint32_t)e.page_off + e.length > GNT_PAGE_SIZE)
			return GNTST_general_error;
		a->sub_page = true;
		a->start = e.page_off;
		a->length = e.length;
	}
	u = gnt_core_unit_of_gfn(g, e.frame, &page);
	if (!u)
		return GNTST_bad_page;
	a->domid = to;
	a->unit = u->id;
	a->page = page;
	a->gfn = e.frame;
	return GNTST_okay;
}

/* Another pin of a pinned ref: the latched grant rules (XSA-500); only a
 * first write pin looks at the entry again, for its read-only bit. */
static int16_t pin_again(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, uint16_t to,
			 bool write, enum pin_use use)
{
	struct gnt_active *a = &g->active[ref];
	bool upgrade = write && !(a->wr + a->xw);
	uint32_t hdr;
	int16_t st;

	if (a->domid != to)
		return GNTST_general_error;
	if (use == USE_EXPO ? (write ? a->xw : a->xr) == UINT8_MAX
			    : a->rd >= PIN_LIMIT || a->wr >= PIN_LIMIT)
		return GNTST_general_error; /* risk of counter overflow */
	if ((use == USE_MAP || use == USE_EXPO) && a->sub_page)
		return GNTST_general_error; /* pinned for a sub-page copy (Xen) */
	if (use == USE_HOP && a->trans)
		return GNTST_general_error; /* one hop only */
	if (upgrade) {
		st = gnt__set_status(g, ref, to, true, use == USE_MAP || use == USE_EXPO, true, &hdr);
		if (st)
			return st;
	}
	if (!a->trans)
		return GNTST_okay;
	/* each pin of a transitive grant holds one of its hop */
	st = pin_ref(c, c->doms[a->trans_dom], a->trans_gref, g->id, write, USE_HOP);
	if (st && upgrade)
		gnt__clear_status(g, ref, GTF_writing);
	return st;
}

/* Pin ref of granter g for domain `to`.  On success the active entry holds
 * the latched frame and window. */
static int16_t pin_ref(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, uint16_t to,
		       bool write, enum pin_use use)
{
	struct gnt_active *a;
	uint32_t hdr;
	int16_t st;

	if (ref >= gnt_core_nr_entries(g))
		return GNTST_bad_gntref;
	a = &g->active[ref];
	if (busy(a)) {
		st = pin_again(c, g, ref, to, write, use);
	} else {
		st = gnt__set_status(g, ref, to, write, use == USE_MAP || use == USE_EXPO, false,
				     &hdr);
		if (st == GNTST_okay) {
			st = latch(c, g, ref, to, write, use, (uint16_t)hdr);
			if (st)
				gnt__clear_status(g, ref, GTF_reading | GTF_writing);
		}
	}
	if (st)
		return st;
	if (use == USE_EXPO) {
		write ? a->xw++ : a->xr++;
		g->expo_pins++;
	} else {
		write ? a->wr++ : a->rd++;
	}
	g->ext_pins++;
	return GNTST_okay;
}

static void maybe_free_zombie(struct gnt_core *c, struct gnt_domain *d);

static void unpin_ref(struct gnt_core *c, struct gnt_domain *g, grant_ref_t ref, bool write,
		      bool expo)
{
	struct gnt_active *a = &g->active[ref];
	bool trans = a->trans;

	if (expo) {
		write ? a->xw-- : a->xr--;
		g->expo_pins--;
	} else {
		write ? a->wr-- : a->rd--;
	}
	g->ext_pins--;
	if (write && !(a->wr + a->xw))
		gnt__clear_status(g, ref, GTF_writing);
	if (!busy(a)) {
		gnt__clear_status(g, ref, GTF_reading | GTF_writing);
		a->unit = GNT_NO_UNIT;
		a->trans = a->sub_page = false;
	}
	/* the hop's pin keeps its granter (maybe a zombie) until now */
	if (trans)
		unpin_ref(c, c->doms[a->trans_dom], a->trans_gref, write, false);
	if (g->state == GNT_DOM_DYING)
		maybe_free_zombie(c, g);
}

/* ---- exposures -------------------------------------------------------- */

static void expo_release(struct gnt_core *c, struct gnt_expo *x)
{
	struct gnt_unit *u = c->units[x->unit];
	struct gnt_domain *g = c->doms[u->owner];
	uint32_t npages = u->npages;
	struct gnt_expo **pp;

	for (pp = &u->expos; *pp != x; pp = &(*pp)->next)
		;
	*pp = x->next;
	c->nexpos--;
	if (x->state == GNT_EXPO_LINGER)
		c->nlinger--;
	if (c->ops->expo_free)
		c->ops->expo_free(c->ctx, x);
	/* the unit first, while our pins keep its owner alive; then the pins,
	 * whose last one may free a zombie owner */
	unit_put(c, u);
	for (uint32_t i = 0; i < npages; i++)
		unpin_ref(c, g, x->cover[i], x->writable, true);
	free(x->cover);
	free(x);
}

/* Find, for every page of u, a grant of g to `to` (with write access if
 * asked) and pin it.  `ref` covers page `page` already (the op's own ref). */
static int16_t expo_create(struct gnt_core *c, struct gnt_domain *g,
			   struct gnt_unit *u, uint16_t to, bool write,
			   grant_ref_t ref, uint32_t page, struct gnt_expo **out)
{
	struct gnt_expo *x = calloc(1, sizeof(*x));
	uint32_t found = 0, n = gnt_core_nr_entries(g);
	int16_t st = GNTST_okay;

	if (!x)
		return GNTST_no_space;
	x->cover = malloc(u->npages * sizeof(*x->cover));
	if (!x->cover) {
		free(x);
		return GNTST_no_space;
	}
	for (uint32_t i = 0; i < u->npages; i++)
		x->cover[i] = UINT32_MAX;
	x->cover[page] = ref;
	found = 1;
	/* Multi-page unit: the mapper will hold the whole unit, so every page
	 * must be granted to it.  One scan per exposure, not per page. */
	for (uint32_t r = 0; r < n && found < u->npages; r++) {
		uint32_t hdr = gnt__entry_header(g, r);
		uint16_t flags = (uint16_t)hdr;
		struct gnt_entry e;
		uint64_t gfn;

		/* mappable grants to `to` only: the header first, it is cheap */
		if ((flags & (GTF_type_mask | GTF_sub_page)) != GTF_permit_access ||
		    (uint16_t)(hdr >> 16) != to || (write && (flags & GTF_readonly)))
			continue;
		gnt_core_entry(g, r, &e);
		gfn = e.frame;
		if (gfn < u->base_gfn || gfn >= u->base_gfn + u->npages)
			continue;
		if (x->cover[gfn - u->base_gfn] == UINT32_MAX) {
			x->cover[gfn - u->base_gfn] = r;
			found++;
		}
	}
	if (found < u->npages) {
		st = GNTST_general_error; /* unit only partly granted: see design.md */
		goto err_free;
	}
	for (uint32_t i = 0; i < u->npages; i++) {
		st = pin_ref(c, g, x->cover[i], to, write, USE_EXPO);
		/* the pinned entry must still name a page of this unit */
		if (st == GNTST_okay && (g->active[x->cover[i]].unit != u->id ||
					 g->active[x->cover[i]].page != i)) {
			unpin_ref(c, g, x->cover[i], write, true);
			st = GNTST_general_error;
		}
		if (st) {
			while (i--)
				unpin_ref(c, g, x->cover[i], write, true);
			goto err_free;
		}
	}
	x->unit = u->id;
	x->mapper = to;
	x->writable = write;
	x->state = GNT_EXPO_LIVE;
	if (c->ops->expo_open && c->ops->expo_open(c->ctx, x, u) < 0) {
		for (uint32_t i = u->npages; i-- > 0;)
			unpin_ref(c, g, x->cover[i], write, true);
		st = GNTST_no_space;
		goto err_free;
	}
	x->next = u->expos;
	u->expos = x;
	u->refs++;
	c->nexpos++;
	*out = x;
	return GNTST_okay;

err_free:
	free(x->cover);
	free(x);
	return st;
}

static struct gnt_expo *expo_find(struct gnt_unit *u, uint16_t to, bool write)
{
	for (struct gnt_expo *x = u->expos; x; x = x->next)
		if (x->mapper == to && x->writable == write && x->state != GNT_EXPO_LINGER) {
			x->state = GNT_EXPO_LIVE; /* a parked one comes back as it was */
			return x;
		}
	return NULL;
}

void gnt_core_expo_settle(struct gnt_core *c, struct gnt_expo *x)
{
	if (x->handles == 0)
		expo_release(c, x);
}

void gnt_core_expo_linger(struct gnt_core *c, struct gnt_expo *x)
{
	if (x->handles == 0 && x->state != GNT_EXPO_LINGER) {
		x->state = GNT_EXPO_LINGER;
		c->nlinger++;
	}
}

/* ---- maptrack --------------------------------------------------------- */

static int64_t mt_get(struct gnt_domain *d)
{
	uint32_t h;

	if (d->mt_free != UINT32_MAX) {
		h = d->mt_free;
		d->mt_free = d->mt[h].next_free;
	} else {
		if (d->mt_len == d->mt_limit)
			return -1;
		if (d->mt_len == d->mt_cap) {
			uint32_t cap = d->mt_cap ? d->mt_cap * 2 : GNT_MAPTRACK_PER_FRAME;
			struct gnt_maptrack *n;
			if (cap > d->mt_limit)
				cap = d->mt_limit;
			n = realloc(d->mt, cap * sizeof(*n));
			if (!n)
				return -1;
			d->mt = n;
			d->mt_cap = cap;
		}
		h = d->mt_len++;
	}
	d->mt_used++;
	return h;
}

static void mt_put(struct gnt_domain *d, uint32_t h)
{
	memset(&d->mt[h], 0, sizeof(d->mt[h]));
	d->mt[h].next_free = d->mt_free;
	d->mt_free = h;
	d->mt_used--;
}

static struct gnt_domain *live_domain(struct gnt_core *c, struct gnt_domain *self,
				      uint32_t id, int16_t *st)
{
	struct gnt_domain *d;

	if (id == DOMID_SELF) /* map/copy by gref name real domains only */
		d = NULL;
	else
		d = gnt_core_domain(c, id);
	(void)self;
	if (!d) {
		*st = GNTST_bad_domain;
		return NULL;
	}
	if (d->state != GNT_DOM_ALIVE) {
		*st = GNTST_general_error; /* dying granter: no new pins */
		return NULL;
	}
	return d;
}

static void map_one(struct gnt_core *c, struct gnt_domain *self,
		    struct gnttab_map_grant_ref *op, struct gnt_unit **unit,
		    uint32_t *page)
{
	bool write = !(op->flags & GNTMAP_readonly);
	struct gnt_domain *g;
	struct gnt_expo *x;
	struct gnt_active *a;
	struct gnt_unit *u;
	int64_t h;
	int16_t st;

	op->handle = UINT32_MAX;
	op->dev_bus_addr = 0;
	*unit = NULL;
	if (!(op->flags & (GNTMAP_host_map | GNTMAP_device_map))) {
		op->status = GNTST_bad_gntref;
		return;
	}
	if (op->flags & (GNTMAP_contains_pte | GNTMAP_application_map)) {
		op->status = GNTST_general_error; /* PV-only flags */
		return;
	}
	g = live_domain(c, self, op->dom, &st);
	if (!g) {
		op->status = st;
		return;
	}
	h = mt_get(self);
	if (h < 0) {
		op->status = GNTST_no_space;
		return;
	}
	st = pin_ref(c, g, op->ref, self->id, write, USE_MAP);
	if (st)
		goto err_mt;
	a = &g->active[op->ref];
	u = c->units[a->unit];
	x = expo_find(u, self->id, write);
	if (!x) {
		st = expo_create(c, g, u, self->id, write, op->ref, a->page, &x);
		if (st)
			goto err_unpin;
	}
	x->handles++;
	self->mt[h].ref = op->ref;
	self->mt[h].dom = g->id;
	self->mt[h].flags = (uint16_t)(op->flags & 0x1f);
	self->mt[h].host_addr = op->host_addr;
	self->mt[h].expo = x;
	if (op->flags & GNTMAP_device_map)
		/* opaque, never 0 (0 means "don't check" to unmap) */
		op->dev_bus_addr = ((uint64_t)(u->id + 1) << 32 | a->page) << GNT_PAGE_SHIFT;
	self->mt[h].dev_bus_addr = op->dev_bus_addr;
	op->handle = (uint32_t)h;
	op->status = GNTST_okay;
	*unit = u;
	*page = a->page;
	return;

err_unpin:
	unpin_ref(c, g, op->ref, write, false);
err_mt:
	mt_put(self, (uint32_t)h);
	op->status = st;
}

int gnt_core_map(struct gnt_core *c, struct gnt_domain *self,
		 struct gnttab_map_grant_ref *ops, uint32_t count,
		 struct gnt_unit **units, uint32_t *pages)
{
	for (uint32_t i = 0; i < count; i++)
		map_one(c, self, &ops[i], &units[i], &pages[i]);
	return 0;
}

static void release_handle(struct gnt_core *c, struct gnt_domain *self, uint32_t h)
{
	struct gnt_maptrack *m = &self->mt[h];
	struct gnt_expo *x = m->expo;
	bool write = !(m->flags & GNTMAP_readonly);
	struct gnt_domain *g = c->doms[m->dom];
	uint32_t ref = m->ref;

	if (c->ops->handle_release)
		c->ops->handle_release(c->ctx, self, h);
	mt_put(self, h);
	if (--x->handles == 0) {
		if (!c->ops->expo_open) {
			expo_release(c, x);
		} else {
			/* keep the pins until gntd knows the mapper let go */
			x->state = GNT_EXPO_PARKED;
			c->ops->expo_parked(c->ctx, x);
		}
	}
	unpin_ref(c, g, ref, write, false);
}

int gnt_core_unmap(struct gnt_core *c, struct gnt_domain *self,
		   struct gnttab_unmap_grant_ref *ops, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		struct gnttab_unmap_grant_ref *op = &ops[i];
		struct gnt_maptrack *m;

		if (op->handle >= self->mt_len || !self->mt[op->handle].flags) {
			op->status = GNTST_bad_handle;
			continue;
		}
		m = &self->mt[op->handle];
		if (op->host_addr && op->host_addr != m->host_addr) {
			op->status = GNTST_bad_virt_addr;
			continue;
		}
		if (op->dev_bus_addr && op->dev_bus_addr != m->dev_bus_addr) {
			op->status = GNTST_bad_dev_addr;
			continue;
		}
		release_handle(c, self, op->handle);
		op->status = GNTST_okay;
	}
	return 0;
}

/* ---- copy ------------------------------------------------------------- */

struct copy_side {
	struct gnt_domain *g;   /* granter, when by gref */
	grant_ref_t ref;
	bool pinned;
	struct gnt_unit *u;
	uint32_t page;
	uint32_t start, length; /* the window the grant allows */
};

static int16_t copy_claim(struct gnt_core *c, struct gnt_domain *self,
			  const struct gnttab_copy_ptr *p, bool is_gref, bool write,
			  struct copy_side *s)
{
	int16_t st;

	memset(s, 0, sizeof(*s));
	s->length = GNT_PAGE_SIZE;
	if (!is_gref) {
		if (p->domid != DOMID_SELF)
			return GNTST_permission_denied;
		s->u = gnt_core_unit_of_gfn(self, p->u.gmfn, &s->page);
		return s->u ? GNTST_okay : GNTST_bad_page;
	}
	s->g = live_domain(c, self, p->domid == DOMID_SELF ? self->id : p->domid, &st);
	if (!s->g)
		return st;
	st = pin_ref(c, s->g, p->u.ref, self->id, write, USE_COPY);
	if (st)
		return st;
	s->pinned = true;
	s->ref = p->u.ref;
	s->u = c->units[s->g->active[p->u.ref].unit];
	s->page = s->g->active[p->u.ref].page;
	s->start = s->g->active[p->u.ref].start;
	s->length = s->g->active[p->u.ref].length;
	return GNTST_okay;
}

static void copy_release(struct gnt_core *c, struct copy_side *s, bool write)
{
	if (s->pinned)
		unpin_ref(c, s->g, s->ref, write, false);
}

static bool in_window(const struct copy_side *s, uint16_t off, uint16_t len)
{
	return off >= s->start && (uint32_t)off + len <= s->start + s->length;
}

int gnt_core_copy(struct gnt_core *c, struct gnt_domain *self,
		  struct gnttab_copy *ops, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		struct gnttab_copy *op = &ops[i];
		struct copy_side src, dst;
		int16_t st;

		if ((uint32_t)op->source.offset + op->len > GNT_PAGE_SIZE ||
		    (uint32_t)op->dest.offset + op->len > GNT_PAGE_SIZE) {
			op->status = GNTST_bad_copy_arg;
			continue;
		}
		st = copy_claim(c, self, &op->source, op->flags & GNTCOPY_source_gref,
				false, &src);
		if (st) {
			op->status = st;
			continue;
		}
		st = copy_claim(c, self, &op->dest, op->flags & GNTCOPY_dest_gref,
				true, &dst);
		if (st) {
			copy_release(c, &src, false);
			op->status = st;
			continue;
		}
		/* inside the grant's window, also for len 0 (Xen's gnttab_copy_buf) */
		if (!in_window(&src, op->source.offset, op->len) ||
		    !in_window(&dst, op->dest.offset, op->len))
			st = GNTST_general_error;
		else if (op->len &&
		    c->ops->unit_copy(c->ctx, src.u->backing,
				      (uint64_t)src.page * GNT_PAGE_SIZE + op->source.offset,
				      dst.u->backing,
				      (uint64_t)dst.page * GNT_PAGE_SIZE + op->dest.offset,
				      op->len) < 0)
			st = GNTST_general_error;
		copy_release(c, &dst, true);
		copy_release(c, &src, false);
		op->status = st;
	}
	return 0;
}

/* ---- table size ------------------------------------------------------- */

static struct gnt_domain *target_domain(struct gnt_core *c, struct gnt_domain *self,
					uint32_t dom, int16_t *st)
{
	struct gnt_domain *d;

	if (dom == DOMID_SELF || dom == self->id)
		return self;
	d = gnt_core_domain(c, dom);
	if (!d || d->state != GNT_DOM_ALIVE) {
		*st = GNTST_bad_domain;
		return NULL;
	}
	if (self->id != 0) {
		*st = GNTST_permission_denied; /* only the control domain */
		return NULL;
	}
	return d;
}

int gnt_core_setup_table(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_setup_table *op, uint64_t *frames)
{
	struct gnt_domain *d;
	int16_t st = GNTST_okay;

	d = target_domain(c, self, op->dom, &st);
	if (!d) {
		op->status = st;
		return 0;
	}
	if (op->nr_frames > d->max_frames) {
		op->status = GNTST_general_error;
		return 0;
	}
	if (op->nr_frames > d->nr_frames)
		d->nr_frames = op->nr_frames; /* grows, never shrinks */
	/* table frames live outside the p2m: report them as ids of their own */
	for (uint32_t i = 0; i < op->nr_frames; i++)
		frames[i] = ((uint64_t)1 << 40) | ((uint64_t)d->id << 16) | i;
	op->status = GNTST_okay;
	return 0;
}

int gnt_core_query_size(struct gnt_core *c, struct gnt_domain *self,
			struct gnttab_query_size *op)
{
	int16_t st = GNTST_okay;
	struct gnt_domain *d = target_domain(c, self, op->dom, &st);

	if (!d) {
		op->status = st;
		return 0;
	}
	op->nr_frames = d->nr_frames;
	op->max_nr_frames = d->max_frames;
	op->status = GNTST_okay;
	return 0;
}

/* ---- memory ----------------------------------------------------------- */

long gnt_core_populate(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_reservation *r, uint64_t *gfns,
		       struct gnt_unit **first_unit)
{
	uint64_t per = (uint64_t)1 << r->extent_order;
	bool one = r->mem_flags & GNT_MEMF_one_unit;
	struct gnt_unit *u = NULL;
	uint64_t n;

	*first_unit = NULL;
	if (r->domid != DOMID_SELF && r->domid != self->id)
		return -EPERM;
	if (r->extent_order > 18 || r->nr_extents > ((uint64_t)1 << 20))
		return -EINVAL;
	if (r->mem_flags & ~GNT_MEMF_one_unit)
		return -EINVAL;
	if (one) {
		uint64_t pages = r->nr_extents * per;
		if (pages == 0)
			return 0;
		if (pages > UINT32_MAX || self->tot_pages + pages > self->max_pages)
			return -ENOMEM;
		u = unit_new(c, self->id, (uint32_t)pages);
		if (!u)
			return -ENOMEM;
		u->base_gfn = self->next_gfn;
		if (p2m_insert(self, u) < 0) {
			unit_put(c, u);
			return -ENOMEM;
		}
		self->next_gfn += pages;
		self->tot_pages += pages;
		for (uint64_t i = 0; i < r->nr_extents; i++)
			gfns[i] = u->base_gfn + i * per;
		*first_unit = u;
		return (long)r->nr_extents;
	}
	for (n = 0; n < r->nr_extents; n++) {
		if (self->tot_pages + per > self->max_pages)
			break;
		u = unit_new(c, self->id, (uint32_t)per);
		if (!u)
			break;
		u->base_gfn = self->next_gfn;
		if (p2m_insert(self, u) < 0) {
			unit_put(c, u);
			break;
		}
		if (!*first_unit)
			*first_unit = u;
		self->next_gfn += per;
		self->tot_pages += per;
		gfns[n] = u->base_gfn;
	}
	return (long)n;
}

static void p2m_remove(struct gnt_core *c, struct gnt_domain *d, uint32_t i)
{
	struct gnt_unit *u = d->p2m[i];

	memmove(&d->p2m[i], &d->p2m[i + 1], (d->p2m_len - i - 1) * sizeof(*d->p2m));
	d->p2m_len--;
	u->in_p2m = false;
	unit_put(c, u); /* exposures keep it alive, like Xen's page refs */
}

long gnt_core_decrease(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_reservation *r, const uint64_t *gfns)
{
	uint64_t n;

	if (r->domid != DOMID_SELF && r->domid != self->id)
		return -EPERM;
	if ((r->mem_flags & ~GNT_MEMF_one_unit) || r->extent_order > 18)
		return -EINVAL;
	/* whole units only: a gfn names the unit it starts; with
	 * GNT_MEMF_one_unit the unit's size is whatever it is */
	for (n = 0; n < r->nr_extents; n++) {
		int64_t i = p2m_index(self, gfns[n]);
		if (i < 0 || self->p2m[i]->base_gfn != gfns[n] ||
		    (!(r->mem_flags & GNT_MEMF_one_unit) &&
		     self->p2m[i]->npages != ((uint64_t)1 << r->extent_order)))
			break;
		p2m_remove(c, self, (uint32_t)i);
	}
	return (long)n;
}

/* ---- death ------------------------------------------------------------ */

static void domain_free(struct gnt_core *c, struct gnt_domain *d)
{
	free(d->ev);
	gnt__status_free(c, d);
	c->ops->table_free(c->ctx, d->table, d->table_backing, d->max_frames);
	c->doms[d->id] = NULL;
	free(d->active);
	free(d->mt);
	free(d->p2m);
	free(d);
}

static void maybe_free_zombie(struct gnt_core *c, struct gnt_domain *d)
{
	if (d->state == GNT_DOM_DYING && d->ext_pins == 0)
		domain_free(c, d);
}

void gnt__core_domain_release(struct gnt_core *c, struct gnt_domain *d)
{
	if (d->state != GNT_DOM_ALIVE)
		return;
	d->state = GNT_DOM_DYING;
	/* its channels close; peers' ports revert to unbound, notified */
	gnt__evtchn_release(c, d);
	/* hold ourselves: dropping our own mappings of our own grants must not
	 * free us half way through */
	d->ext_pins++;
	/* our mappings of others' grants (gnttab_release_mappings) */
	for (uint32_t h = 0; h < d->mt_len; h++)
		if (d->mt[h].flags)
			release_handle(c, d, h);
	/* our memory: units others still hold stay until they let go */
	while (d->p2m_len)
		p2m_remove(c, d, d->p2m_len - 1);
	/* pins others hold on our table keep it (and us) as a zombie */
	d->ext_pins--;
	maybe_free_zombie(c, d);
}

void gnt_core_destroy(struct gnt_core *c)
{
	for (uint32_t i = 1; i < GNT_NR_DOMIDS; i++)
		if (c->doms[i])
			gnt__core_domain_release(c, c->doms[i]);
	if (c->doms[0])
		gnt__core_domain_release(c, c->doms[0]);
	/* parked and lingering exposures: nobody is left to settle them */
	for (uint32_t i = 0; i < c->nunits; i++)
		while (c->units[i] && c->units[i]->expos)
			expo_release(c, c->units[i]->expos);
	for (uint32_t i = 0; i < GNT_NR_DOMIDS; i++)
		if (c->doms[i]) /* zombies whose pins were ours */
			domain_free(c, c->doms[i]);
	free(c->units);
	free(c);
}

/* ---- introspection ---------------------------------------------------- */

uint32_t gnt_core_entries_in_use(const struct gnt_domain *d)
{
	uint32_t n = 0;
	for (uint32_t r = 0; r < gnt_core_nr_entries(d); r++)
		if (gnt__entry_header(d, r) & GTF_type_mask)
			n++;
	return n;
}

const struct gnt_active *gnt_core_active(const struct gnt_domain *d, grant_ref_t ref)
{
	return ref < gnt_core_nr_entries(d) ? &d->active[ref] : NULL;
}

void gnt_core_stats(struct gnt_core *c, struct gnt_core_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (uint32_t i = 0; i < GNT_NR_DOMIDS; i++) {
		struct gnt_domain *d = c->doms[i];
		if (!d)
			continue;
		if (d->state == GNT_DOM_ALIVE)
			st->domains++;
		else
			st->zombies++;
		st->mappings += d->mt_used;
		st->pins += d->ext_pins - d->expo_pins;
	}
	for (uint32_t i = 0; i < c->nunits; i++)
		if (c->units[i]) {
			st->units++;
			st->frames += c->units[i]->npages;
		}
	st->exposures = c->nexpos;
	st->lingering = c->nlinger;
}

/* ---- for transfer.c (core_int.h) -------------------------------------- */

struct gnt_unit *gnt__unit_new(struct gnt_core *c, uint16_t owner, uint32_t npages)
{
	return unit_new(c, owner, npages);
}

void gnt__unit_put(struct gnt_core *c, struct gnt_unit *u)
{
	unit_put(c, u);
}

void gnt__unit_discard(struct gnt_core *c, struct gnt_unit *u)
{
	unit_discard(c, u);
}

int gnt__p2m_insert(struct gnt_domain *d, struct gnt_unit *u)
{
	return p2m_insert(d, u);
}

int64_t gnt__p2m_index(const struct gnt_domain *d, uint64_t gfn)
{
	return p2m_index(d, gfn);
}

void gnt__p2m_remove(struct gnt_core *c, struct gnt_domain *d, uint32_t i)
{
	p2m_remove(c, d, i);
}
