/* SPDX-License-Identifier: MIT */
/*
 * core/table.c - the shared grant table in either version, and switching
 * between them (GNTTABOP_set_version / get_version / get_status_frames),
 * following Xen's xen/common/grant_table.c (4.17), and swapping two entries
 * (GNTTABOP_swap_grant_ref).
 *
 * The domain writes its table at any time, also while gntd reads it: every
 * field is read once with an atomic load and checked after reading, and
 * what matters later is latched by the caller.  v2 status frames are written
 * by gntd only (the domain maps them read-only, kernel-enforced by the
 * backing), so gntd never has to race the domain for them.
 */
#include "table.h"

#include <errno.h>
#include <string.h>

static inline grant_entry_v2_t *entry_v2(const struct gnt_domain *d, grant_ref_t ref)
{
	return (grant_entry_v2_t *)(void *)d->table + ref;
}

uint32_t *gnt__entry_header_word(const struct gnt_domain *d, grant_ref_t ref)
{
	/* flags | domid << 16, little endian: the first word in both versions */
	return d->version == 2 ? (uint32_t *)(void *)entry_v2(d, ref)
			       : (uint32_t *)(void *)&d->table[ref];
}

uint32_t gnt_core_status_frames(uint32_t nr_frames)
{
	return (nr_frames * GNT_V2_ENTRIES_PER_FRAME + GNT_STATUS_PER_FRAME - 1) /
	       GNT_STATUS_PER_FRAME;
}

uint32_t gnt_core_nr_entries(const struct gnt_domain *d)
{
	return d->nr_frames * (d->version == 2 ? GNT_V2_ENTRIES_PER_FRAME : GNT_ENTRIES_PER_FRAME);
}

uint32_t gnt__entry_header(const struct gnt_domain *d, grant_ref_t ref)
{
	return __atomic_load_n(gnt__entry_header_word(d, ref), __ATOMIC_ACQUIRE);
}

int gnt_core_entry(const struct gnt_domain *d, grant_ref_t ref, struct gnt_entry *e)
{
	uint32_t hdr, w1;

	if (ref >= gnt_core_nr_entries(d))
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	hdr = gnt__entry_header(d, ref);
	e->flags = (uint16_t)hdr;
	e->domid = (uint16_t)(hdr >> 16);
	if (d->version != 2) {
		e->frame = __atomic_load_n(&d->table[ref].frame, __ATOMIC_ACQUIRE);
		return 0;
	}
	/* one load per word: the union's views are decoded from the same copy */
	w1 = __atomic_load_n(&entry_v2(d, ref)->__spacer[1], __ATOMIC_ACQUIRE);
	e->frame = __atomic_load_n(&entry_v2(d, ref)->full_page.frame, __ATOMIC_ACQUIRE);
	e->page_off = (uint16_t)w1;
	e->length = (uint16_t)(w1 >> 16);
	e->trans_domid = (uint16_t)w1;
	e->trans_gref = (uint32_t)e->frame; /* transitive.gref shares frame's first word */
	e->flags |= __atomic_load_n(&d->status[ref], __ATOMIC_ACQUIRE);
	return 0;
}

void gnt__clear_status(struct gnt_domain *g, grant_ref_t ref, uint16_t bits)
{
	/* only our own bits: in v1 the guest may be rewriting the rest */
	if (g->version == 2)
		__atomic_fetch_and(&g->status[ref], (uint16_t)~bits, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&g->table[ref].flags, (uint16_t)~bits, __ATOMIC_SEQ_CST);
}

#define PIN_RETRIES 5

/* Xen's _set_status_v1: a compare-and-swap on flags|domid, at most
 * PIN_RETRIES attempts against a guest that keeps changing the entry.  Type
 * and grantee are checked also when pinned (Xen does). */
static int16_t set_status_v1(struct gnt_domain *g, grant_ref_t ref, uint16_t to, bool write,
			     bool map, uint32_t *hdr)
{
	uint32_t *p = gnt__entry_header_word(g, ref);
	uint32_t old = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	uint16_t mask = GTF_type_mask | (map ? GTF_sub_page : 0);

	for (int i = 0; i < PIN_RETRIES; i++) {
		uint16_t flags = (uint16_t)old, domid = (uint16_t)(old >> 16);
		uint16_t nflags;

		if ((flags & mask) != GTF_permit_access || domid != to)
			return GNTST_general_error;
		if (write && (flags & GTF_readonly))
			return GNTST_general_error;
		nflags = (uint16_t)(flags | GTF_reading | (write ? GTF_writing : 0));
		/* pin the entry: the guest may not change it while reading/writing */
		if (__atomic_compare_exchange_n(p, &old, (old & 0xFFFF0000u) | nflags, false,
						__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
			*hdr = (old & 0xFFFF0000u) | nflags;
			return GNTST_okay;
		}
	}
	return GNTST_general_error; /* unstable entry */
}

static bool v2_grants(uint32_t hdr, uint16_t to, bool write, bool map)
{
	uint16_t flags = (uint16_t)hdr;
	uint16_t type = flags & (GTF_type_mask | (map ? GTF_sub_page : 0));

	if (type != GTF_permit_access && (map || type != GTF_transitive))
		return false;
	return (uint16_t)(hdr >> 16) == to && !(write && (flags & GTF_readonly));
}

/* Xen's _set_status_v2: the status bits are ours alone, so set them, then
 * read the header again; an entry that changed meanwhile is backed out. */
static int16_t set_status_v2(struct gnt_domain *g, grant_ref_t ref, uint16_t to, bool write,
			     bool map, bool pinned, uint32_t *hdr)
{
	uint16_t bits = (uint16_t)(GTF_reading | (write ? GTF_writing : 0));
	uint32_t h = gnt__entry_header(g, ref);

	if (!pinned && !v2_grants(h, to, write, map))
		return GNTST_general_error;
	if (write && ((uint16_t)h & GTF_readonly))
		return GNTST_general_error;
	/* status visible to the guest before we look at the header again */
	__atomic_fetch_or(&g->status[ref], bits, __ATOMIC_SEQ_CST);
	h = gnt__entry_header(g, ref);
	if (pinned ? (write && ((uint16_t)h & GTF_readonly)) : !v2_grants(h, to, write, map)) {
		gnt__clear_status(g, ref, pinned ? GTF_writing : bits);
		return GNTST_general_error; /* unstable entry */
	}
	*hdr = h;
	return GNTST_okay;
}

int16_t gnt__set_status(struct gnt_domain *g, grant_ref_t ref, uint16_t to, bool write,
			bool map, bool pinned, uint32_t *hdr)
{
	return g->version == 2 ? set_status_v2(g, ref, to, write, map, pinned, hdr)
			       : set_status_v1(g, ref, to, write, map, hdr);
}

/* ---- version switch --------------------------------------------------- */

static uint32_t status_pages(const struct gnt_domain *d)
{
	return gnt_core_status_frames(d->max_frames);
}

void gnt__status_free(struct gnt_core *c, struct gnt_domain *d)
{
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);

	if (d->status)
		ops->status_free(ctx, d->status, d->status_backing, status_pages(d));
	d->status = NULL;
}

static int switch_allowed(const struct gnt_domain *d, uint32_t to)
{
	for (uint32_t r = GNTTAB_NR_RESERVED_ENTRIES; r < gnt_core_nr_entries(d); r++) {
		const struct gnt_active *a = &d->active[r];
		if (a->rd || a->wr || a->xr || a->xw)
			return -EBUSY;
	}
	if (to == 1) {
		/* what a v1 entry cannot say (Xen) */
		for (grant_ref_t r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++) {
			struct gnt_entry e;
			gnt_core_entry(d, r, &e);
			if ((e.flags & GTF_type_mask) == GTF_transitive ||
			    ((e.flags & GTF_type_mask) == GTF_permit_access && e.frame >> 32))
				return -ERANGE;
		}
	}
	return 0;
}

/* The reserved entries 0..7 survive a switch, in v1 form (status bits in
 * flags); anything else is not a grant Xen keeps. */
static void reserved_save(const struct gnt_domain *d, grant_entry_v1_t *keep)
{
	memset(keep, 0, GNTTAB_NR_RESERVED_ENTRIES * sizeof(*keep));
	for (grant_ref_t r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++) {
		struct gnt_entry e;
		gnt_core_entry(d, r, &e);
		if ((e.flags & GTF_type_mask) != GTF_permit_access)
			continue;
		keep[r].flags = e.flags;
		keep[r].domid = e.domid;
		keep[r].frame = (uint32_t)e.frame;
	}
}

static void reserved_restore(struct gnt_domain *d, const grant_entry_v1_t *keep)
{
	const uint16_t st = GTF_reading | GTF_writing;

	for (grant_ref_t r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++) {
		if (d->version == 1) {
			d->table[r] = keep[r];
			continue;
		}
		d->status[r] = keep[r].flags & st;
		entry_v2(d, r)->full_page.frame = keep[r].frame;
		entry_v2(d, r)->hdr.domid = keep[r].domid;
		entry_v2(d, r)->hdr.flags = keep[r].flags & (uint16_t)~st;
	}
}

static int switch_version(struct gnt_core *c, struct gnt_domain *d, uint32_t to)
{
	grant_entry_v1_t keep[GNTTAB_NR_RESERVED_ENTRIES];
	int rc = switch_allowed(d, to);
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);

	if (rc < 0)
		return rc;
	/* status frames come once and stay until the domain goes: a domain
	 * that still maps them after going back to v1 reads zeros, never
	 * memory that was given to something else (XSA-255/379/517) */
	if (to == 2 && !d->status &&
	    ops->status_alloc(ctx, d->id, status_pages(d), (void **)&d->status,
			      &d->status_backing) < 0) {
		d->status = NULL;
		return -ENOMEM;
	}
	reserved_save(d, keep);
	memset(d->table, 0, (size_t)d->nr_frames * GNT_PAGE_SIZE);
	memset(d->status, 0, (size_t)status_pages(d) * GNT_PAGE_SIZE);
	d->version = to;
	reserved_restore(d, keep);
	return 0;
}

int gnt_core_set_version(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_set_version *op)
{
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);
	int rc = 0;

	if (op->version != 1 && op->version != 2)
		rc = -EINVAL;
	else if (op->version == 2 && !ops->status_alloc)
		rc = -ENOSYS; /* Xen with max_grant_version 1 */
	else if (op->version != self->version)
		rc = switch_version(c, self, op->version);
	op->version = self->version;
	return rc;
}

int gnt_core_get_version(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_get_version *op)
{
	struct gnt_domain *d = op->dom == DOMID_SELF ? self : gnt_core_domain(c, op->dom);

	if (!d)
		return -ESRCH;
	if (d != self && self->id != 0)
		return -EPERM;
	op->version = d->version;
	return 0;
}

int gnt_core_get_status_frames(struct gnt_core *c, struct gnt_domain *self,
			       struct gnttab_get_status_frames *op, uint64_t *frames)
{
	struct gnt_domain *d = op->dom == DOMID_SELF ? self : gnt_core_domain(c, op->dom);

	if (!d || d->state != GNT_DOM_ALIVE) {
		op->status = GNTST_bad_domain;
		return 0;
	}
	if (d != self && self->id != 0) {
		op->status = GNTST_permission_denied;
		return 0;
	}
	/* counted in frames of status, not entries (XSA-382) */
	if (d->version != 2 || op->nr_frames > gnt_core_status_frames(d->nr_frames)) {
		op->status = GNTST_general_error;
		return 0;
	}
	/* outside the p2m, like the table's own frames: ids of their own */
	for (uint32_t i = 0; i < op->nr_frames; i++)
		frames[i] = ((uint64_t)2 << 40) | ((uint64_t)d->id << 16) | i;
	op->status = GNTST_okay;
	return 0;
}

/* ---- swap_grant_ref ----------------------------------------------------- */

static bool pinned(const struct gnt_active *a)
{
	return a->rd || a->wr || a->xr || a->xw;
}

/* Word by word, each word atomically: the domain may be writing its own
 * entries meanwhile (its race, as in Xen), but no load or store tears. */
static void swap_words(uint64_t *a, uint64_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t x = __atomic_load_n(&a[i], __ATOMIC_ACQUIRE);
		uint64_t y = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);
		__atomic_store_n(&a[i], y, __ATOMIC_RELEASE);
		__atomic_store_n(&b[i], x, __ATOMIC_RELEASE);
	}
}

/* Xen's gnttab_swap_grant_ref: the two entries change places (v2: with
 * their status words); refused while either is pinned, as an entry in use
 * cannot move. */
static int16_t swap_one(struct gnt_domain *d, grant_ref_t a, grant_ref_t b)
{
	uint32_t n = gnt_core_nr_entries(d);

	if (a >= n || b >= n)
		return GNTST_bad_gntref;
	if (a == b)
		return GNTST_okay;
	if (pinned(&d->active[a]) || pinned(&d->active[b]))
		return GNTST_eagain;
	if (d->version == 2) {
		grant_status_t sa = __atomic_load_n(&d->status[a], __ATOMIC_ACQUIRE);
		grant_status_t sb = __atomic_load_n(&d->status[b], __ATOMIC_ACQUIRE);
		swap_words((uint64_t *)(void *)entry_v2(d, a), (uint64_t *)(void *)entry_v2(d, b),
			   sizeof(grant_entry_v2_t) / 8);
		__atomic_store_n(&d->status[a], sb, __ATOMIC_RELEASE);
		__atomic_store_n(&d->status[b], sa, __ATOMIC_RELEASE);
	} else {
		swap_words((uint64_t *)(void *)&d->table[a], (uint64_t *)(void *)&d->table[b],
			   sizeof(grant_entry_v1_t) / 8);
	}
	return GNTST_okay;
}

int gnt_core_swap_grant_ref(struct gnt_core *c, struct gnt_domain *self,
			    struct gnttab_swap_grant_ref *ops, uint32_t n)
{
	(void)c;
	for (uint32_t i = 0; i < n; i++)
		ops[i].status = swap_one(self, ops[i].ref_a, ops[i].ref_b);
	return 0;
}
