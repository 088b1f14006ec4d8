/* SPDX-License-Identifier: MIT */
/*
 * hv/gntdev.c - what Linux's gntdev and gntalloc drivers do when a process
 * exits, done by gntd when a process's connection closes: its gntdev
 * mappings (maps sent with GNT_HC_OWNED) are unmapped and its gntalloc
 * shares (GNT_MSG_SHARE) are ended, their pages freed once no peer maps
 * them (Linux's deferred gnttab_end_foreign_access).  Also the per-domain
 * gntalloc and gntdev limits (Linux's module parameters: one guest kernel,
 * one count).  docs/design.md, "gntdev, gntalloc".
 */
#define _GNU_SOURCE
#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"

struct hv_share {
	struct hv_share *next;
	struct hv_conn *owner; /* NULL once ending: waiting for peers to unmap */
	uint64_t gfn;          /* the unit's first page */
	uint32_t npages;
	uint32_t left;         /* refs not ended yet */
	uint32_t *refs;        /* refs[i] grants page i; 0 once ended */
};

/* shares ending in all domains: hv_gntdev_poll has work only then */
static uint32_t ending;

void hv_gntdev_dom_init(struct hv_dom *hd)
{
	hd->alloc_limit = 1024; /* Linux's gntalloc `limit` */
	hd->dev_limit = GNT_MAP_BATCH_MAX;
}

static struct hv_dom *conn_hd(struct hv_conn *c, struct gnt_domain **dp)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, c->domid);

	if (!d || d->state != GNT_DOM_ALIVE || !d->user)
		return NULL;
	*dp = d;
	return d->user;
}

/* ---- gntdev: mappings owned by a connection ----------------------------- */

int hv_gntdev_map_check(struct hv_conn *c, const struct gnt_msg *m)
{
	struct gnt_domain *d = NULL;
	struct hv_dom *hd = conn_hd(c, &d);

	if (m->aux & ~GNT_HC_OWNED)
		return -EINVAL;
	if ((m->aux & GNT_HC_OWNED) && hd && m->count > hd->dev_limit)
		return -EINVAL; /* Linux: the request is over gntdev's `limit` */
	return 0;
}

static int owner_room(struct hv_dom *hd, uint32_t handle)
{
	uint32_t len = hd->mt_owner_len ? hd->mt_owner_len : 256;
	struct hv_conn **n;

	if (handle < hd->mt_owner_len)
		return 0;
	while (len <= handle)
		len *= 2;
	n = realloc(hd->mt_owner, len * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + hd->mt_owner_len, 0, (len - hd->mt_owner_len) * sizeof(*n));
	hd->mt_owner = n;
	hd->mt_owner_len = len;
	return 0;
}

void hv_gntdev_map_owned(struct hv_conn *c, const struct gnttab_map_grant_ref *ops, uint32_t n)
{
	struct gnt_domain *d = NULL;
	struct hv_dom *hd = conn_hd(c, &d);

	for (uint32_t i = 0; hd && i < n; i++) {
		if (ops[i].status != GNTST_okay)
			continue;
		/* no memory to record it: it stays the domain's, as before */
		if (owner_room(hd, ops[i].handle) < 0)
			continue;
		hd->mt_owner[ops[i].handle] = c;
		c->owned_maps++;
	}
}

void hv_gntdev_handle_release(void *ctx, struct gnt_domain *self, uint32_t handle)
{
	struct hv_dom *hd = self->user;

	/* a released handle may be reused by anyone: it is nobody's now */
	if (hd && handle < hd->mt_owner_len && hd->mt_owner[handle]) {
		hd->mt_owner[handle]->owned_maps--;
		hd->mt_owner[handle] = NULL;
	}
	hv_unmap_notify_handle_release(ctx, self, handle);
}

static void unmap_owned(struct hv_conn *c, struct gnt_domain *d, struct hv_dom *hd)
{
	struct gnttab_unmap_grant_ref *ops = calloc(c->owned_maps, sizeof(*ops));
	uint32_t n = 0;

	if (!ops)
		return; /* they stay the domain's until it dies */
	for (uint32_t h = 0; h < hd->mt_owner_len && n < c->owned_maps; h++)
		if (hd->mt_owner[h] == c)
			ops[n++].handle = h;
	/* handle_release forgets each owner as it goes */
	gnt_core_unmap(hv->core, d, ops, n);
	free(ops);
}

/* ---- gntalloc: shares owned by a connection ------------------------------ */

enum end_result { END_DONE, END_NOT_OURS, END_BUSY };

/* The domain's ref-allocation bitmap (after the table in its memfd). */
static uint64_t *ref_bitmap(struct gnt_domain *d)
{
	return (uint64_t *)(void *)((uint8_t *)d->table + (size_t)d->max_frames * GNT_PAGE_SIZE);
}

/* End one grant of share s, as the granter's gnttab_end_foreign_access_ref
 * would: refused while a peer has it pinned.  An entry that no longer names
 * the share's page was rewritten by the domain: not ours to end. */
static enum end_result end_ref(struct gnt_domain *d, const struct hv_share *s, uint32_t i,
			       bool settle)
{
	grant_ref_t ref = s->refs[i];
	struct gnt_entry e;

	/* read once, either version (v2: status bits merged into flags) */
	if (gnt_core_entry(d, ref, &e) < 0 || e.frame != s->gfn + i)
		return END_NOT_OURS;
	if ((e.flags & (GTF_reading | GTF_writing)) && settle && hv->revoke) {
		/* as libgnt's end of access: an unmapped peer may only be
		 * waiting for the kernel's word (design.md, "Revocation") */
		const struct gnt_active *a = gnt_core_active(d, ref);
		if (a && (a->xr || a->xw) && a->unit != GNT_NO_UNIT)
			hv_revoke_settle_unit(gnt_core_unit(hv->core, a->unit));
	}
	if (d->version == 2) {
		/* as Linux's v2 end of access: invalid first, then look at the
		 * status only gntd writes; busy: ended later, when unpinned */
		grant_entry_v2_t *v2 = (grant_entry_v2_t *)(void *)d->table + ref;
		__atomic_store_n(&v2->hdr.flags, 0, __ATOMIC_SEQ_CST);
		return __atomic_load_n(&d->status[ref], __ATOMIC_SEQ_CST) &
				       (GTF_reading | GTF_writing)
			       ? END_BUSY
			       : END_DONE;
	}
	{
		grant_entry_v1_t *v1 = &d->table[ref];
		uint16_t flags = __atomic_load_n(&v1->flags, __ATOMIC_ACQUIRE);
		do {
			if (flags & (GTF_reading | GTF_writing))
				return END_BUSY;
			/* the domain's processes change flags too: compare-and-swap */
		} while (!__atomic_compare_exchange_n(&v1->flags, &flags, 0, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE));
	}
	return END_DONE;
}

/* Try to end every grant of s still live; once none is, free its refs'
 * unit.  Returns true when s is finished. */
static bool share_try_end(struct gnt_domain *d, struct hv_share *s, bool settle)
{
	for (uint32_t i = 0; i < s->npages && s->left; i++) {
		enum end_result r;
		if (!s->refs[i])
			continue;
		r = end_ref(d, s, i, settle);
		if (r == END_BUSY)
			continue;
		if (r == END_DONE) /* release: the ref is free for the domain again */
			__atomic_fetch_and(&ref_bitmap(d)[s->refs[i] / 64],
					   ~(1ull << (s->refs[i] % 64)), __ATOMIC_RELEASE);
		s->refs[i] = 0;
		s->left--;
	}
	if (s->left)
		return false;
	{
		/* Linux frees the page once its grant ended, never before: a
		 * peer that maps later must find no page behind the ref */
		struct xen_memory_reservation r = {.nr_extents = 1,
						   .mem_flags = GNT_MEMF_one_unit,
						   .domid = DOMID_SELF};
		uint32_t page;
		struct gnt_unit *u = gnt_core_unit_of_gfn(d, s->gfn, &page);
		if (u && page == 0 && u->npages == s->npages)
			gnt_core_decrease(hv->core, d, &r, &s->gfn);
	}
	return true;
}

static void share_unlink(struct hv_dom *hd, struct hv_share *s)
{
	struct hv_share **pp = &hd->shares;

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	free(s->refs);
	free(s);
}

/* The owner lets go (unshare, or its death): from now on gntd ends it. */
static void share_release(struct gnt_domain *d, struct hv_dom *hd, struct hv_share *s)
{
	s->owner->owned_shares--;
	s->owner = NULL;
	hd->alloc_used -= s->npages; /* Linux counts it gone at once, too */
	if (share_try_end(d, s, true)) {
		share_unlink(hd, s);
		return;
	}
	ending++;
}

static struct hv_share *share_find(struct hv_dom *hd, uint64_t gfn)
{
	for (struct hv_share *s = hd->shares; s; s = s->next)
		if (s->gfn == gfn)
			return s;
	return NULL;
}

static int share_check(struct gnt_domain *d, struct hv_dom *hd, const struct gnt_share *h,
		       const uint32_t *refs)
{
	uint32_t page;
	struct gnt_unit *u = gnt_core_unit_of_gfn(d, h->gfn, &page);

	if (!u || page != 0 || u->npages != h->count)
		return -EINVAL;
	if (share_find(hd, h->gfn))
		return -EEXIST;
	for (uint32_t i = 0; i < h->count; i++) {
		struct gnt_entry e;
		/* the domain may rewrite it at any time: a snapshot is all we
		 * need, end_ref checks the frame again before ending it */
		if (refs[i] < GNTTAB_NR_RESERVED_ENTRIES || gnt_core_entry(d, refs[i], &e) < 0 ||
		    (e.flags & GTF_type_mask) != GTF_permit_access || e.frame != h->gfn + i)
			return -EINVAL;
	}
	if ((uint64_t)hd->alloc_used + h->count > hd->alloc_limit)
		return -ENOSPC;
	return 0;
}

static int share_own(struct hv_conn *c, struct gnt_domain *d, struct hv_dom *hd,
		     const struct gnt_share *h, const uint8_t *pl)
{
	struct hv_share *s;
	uint32_t *refs = malloc((size_t)h->count * sizeof(*refs));
	int rc;

	if (!refs)
		return -ENOMEM;
	memcpy(refs, pl + sizeof(*h), (size_t)h->count * sizeof(*refs));
	rc = share_check(d, hd, h, refs);
	s = rc == 0 ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		free(refs);
		return rc < 0 ? rc : -ENOMEM;
	}
	*s = (struct hv_share){.next = hd->shares, .owner = c, .gfn = h->gfn,
			       .npages = h->count, .left = h->count, .refs = refs};
	hd->shares = s;
	hd->alloc_used += h->count;
	c->owned_shares++;
	return 0;
}

int hv_gntdev_share(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_share h;
	struct gnt_domain *d = NULL;
	struct hv_dom *hd = conn_hd(c, &d);
	struct hv_share *s;
	int rc = -ENOENT;

	if (m->len < sizeof(h))
		return -EPROTO;
	memcpy(&h, pl, sizeof(h));
	if (h.count > (GNT_MSG_MAX_PAYLOAD - sizeof(h)) / sizeof(uint32_t) ||
	    m->len != sizeof(h) + (size_t)h.count * sizeof(uint32_t))
		return -EPROTO;
	if (!hd)
		return -ESRCH;
	switch (h.op) {
	case GNT_SHARE_OWN:
		rc = h.count ? share_own(c, d, hd, &h, pl) : -EINVAL;
		break;
	case GNT_SHARE_END:
		s = h.count ? NULL : share_find(hd, h.gfn);
		if (h.count)
			rc = -EINVAL;
		else if (s && s->owner == c) {
			share_release(d, hd, s);
			rc = 0;
		}
		break;
	default:
		rc = -EINVAL;
	}
	return hv_reply(c, m, rc, NULL, 0, NULL, 0);
}

/* ---- connection gone, polling, domain gone ------------------------------- */

void hv_gntdev_conn_gone(struct hv_conn *c)
{
	struct gnt_domain *d = NULL;
	struct hv_dom *hd;

	if (!c->owned_maps && !c->owned_shares)
		return;
	hd = conn_hd(c, &d);
	if (!hd)
		return; /* the domain's release takes everything */
	if (c->owned_maps)
		unmap_owned(c, d, hd);
	for (struct hv_share *s = hd->shares, *next; s && c->owned_shares; s = next) {
		next = s->next;
		if (s->owner == c)
			share_release(d, hd, s);
	}
}

void hv_gntdev_poll(void)
{
	if (!ending)
		return;
	for (struct gnt_domain *d = gnt_core_domain_next(hv->core, 0); d;
	     d = gnt_core_domain_next(hv->core, d->id + 1u)) {
		struct hv_dom *hd = d->user;
		if (!hd || d->state != GNT_DOM_ALIVE)
			continue;
		for (struct hv_share *s = hd->shares, *next; s; s = next) {
			next = s->next;
			if (!s->owner && share_try_end(d, s, false)) {
				share_unlink(hd, s);
				ending--;
			}
		}
	}
}

void hv_gntdev_dom_gone(struct hv_dom *hd)
{
	while (hd->shares) {
		struct hv_share *s = hd->shares;
		if (!s->owner)
			ending--;
		hd->shares = s->next;
		free(s->refs);
		free(s);
	}
	free(hd->mt_owner);
	hd->mt_owner = NULL;
	hd->mt_owner_len = 0;
}

/* ---- limits ---------------------------------------------------------------- */

int hv_gntdev_limits(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_gntdev_limits l;
	struct gnt_domain *d = NULL;
	struct hv_dom *hd;
	int rc = 0;

	if (m->len != sizeof(l))
		return -EPROTO;
	memcpy(&l, pl, sizeof(l));
	d = l.domid == DOMID_SELF ? gnt_core_domain(hv->core, c->domid)
				  : gnt_core_domain(hv->core, l.domid);
	hd = d && d->state == GNT_DOM_ALIVE ? d->user : NULL;
	/* a domain sets its own (its kernel's); dom0 anyone's */
	if (l.domid != DOMID_SELF && l.domid != c->domid && c->domid != 0)
		rc = -EPERM;
	else if (!hd)
		rc = -ESRCH;
	else if ((l.set & ~(GNT_LIMIT_SET_ALLOC | GNT_LIMIT_SET_DEV)) ||
		 ((l.set & GNT_LIMIT_SET_ALLOC) && l.alloc_limit == 0) ||
		 ((l.set & GNT_LIMIT_SET_DEV) &&
		  (l.dev_limit == 0 || l.dev_limit > GNT_MAP_BATCH_MAX)))
		rc = -EINVAL;
	if (rc < 0)
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
	if (l.set & GNT_LIMIT_SET_ALLOC)
		hd->alloc_limit = l.alloc_limit; /* below the use: refuses new shares only */
	if (l.set & GNT_LIMIT_SET_DEV)
		hd->dev_limit = l.dev_limit;
	l = (struct gnt_gntdev_limits){.domid = d->id, .alloc_limit = hd->alloc_limit,
				       .dev_limit = hd->dev_limit,
				       .alloc_in_use = hd->alloc_used};
	return hv_reply(c, m, 0, &l, sizeof(l), NULL, 0);
}
