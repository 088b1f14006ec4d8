/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_v2.c - grant table v2 in the core: set/get_version and
 * get_status_frames, the switch rules (refs >= 8 pinned, reserved entries
 * kept, -ERANGE back to v1), full_page maps with status frames, sub_page
 * copy windows, transitive copies (one hop, no self reference) and a guest
 * that rewrites entries while gntd copies.
 */
#include "fixture.h"

#include <errno.h>

struct v2env {
	struct gnt_core *c;
	struct gnt_domain *a, *b, *x; /* granter, grantee, third party */
	uint64_t ga, gb, gx;
};

static void fill(uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < GNT_PAGE_SIZE; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static struct v2env v2env(void)
{
	struct v2env e;

	e.c = fx_core();
	e.a = fx_dom(e.c, "a");
	e.b = fx_dom(e.c, "b");
	e.x = fx_dom(e.c, "x");
	e.ga = fx_alloc(e.c, e.a, 1);
	e.gb = fx_alloc(e.c, e.b, 1);
	e.gx = fx_alloc(e.c, e.x, 1);
	fill(fx_mem(e.a, e.ga), 1);
	fill(fx_mem(e.b, e.gb), 101);
	fill(fx_mem(e.x, e.gx), 201);
	return e;
}

static int set_version(struct gnt_core *c, struct gnt_domain *d, uint32_t v, uint32_t *now)
{
	struct gnttab_set_version op = {.version = v};
	int rc = gnt_core_set_version(c, d, &op);
	if (now)
		*now = op.version;
	return rc;
}

static void to_v2(struct gnt_core *c, struct gnt_domain *d)
{
	CHECK_EQ(set_version(c, d, 2, NULL), 0);
	CHECK_EQ(d->version, 2);
}

/* ---- the guest's side of a v2 table ------------------------------------ */

static grant_entry_v2_t *e2(struct gnt_domain *g, grant_ref_t ref)
{
	return (grant_entry_v2_t *)(void *)g->table + ref;
}

/* Xen's order: everything but flags, then (release) flags. */
static void publish(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint16_t flags)
{
	__atomic_store_n(&e2(g, ref)->hdr.domid, to, __ATOMIC_RELAXED);
	__atomic_store_n(&e2(g, ref)->hdr.flags, flags, __ATOMIC_RELEASE);
}

static void grant_full(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint64_t gfn,
		       uint16_t flags)
{
	__atomic_store_n(&e2(g, ref)->full_page.frame, gfn, __ATOMIC_RELAXED);
	publish(g, ref, to, (uint16_t)(GTF_permit_access | flags));
}

static void grant_sub(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint64_t gfn,
		      uint16_t off, uint16_t len, uint16_t flags)
{
	__atomic_store_n(&e2(g, ref)->sub_page.page_off, off, __ATOMIC_RELAXED);
	__atomic_store_n(&e2(g, ref)->sub_page.length, len, __ATOMIC_RELAXED);
	__atomic_store_n(&e2(g, ref)->sub_page.frame, gfn, __ATOMIC_RELAXED);
	publish(g, ref, to, (uint16_t)(GTF_permit_access | GTF_sub_page | flags));
}

static void grant_trans(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint16_t tdom,
			grant_ref_t tref, uint16_t flags)
{
	__atomic_store_n(&e2(g, ref)->transitive.trans_domid, tdom, __ATOMIC_RELAXED);
	__atomic_store_n(&e2(g, ref)->transitive.gref, tref, __ATOMIC_RELAXED);
	publish(g, ref, to, (uint16_t)(GTF_transitive | flags));
}

static uint16_t status_of(struct gnt_domain *g, grant_ref_t ref)
{
	return __atomic_load_n(&g->status[ref], __ATOMIC_ACQUIRE);
}

static struct gnttab_copy_ptr by_ref(grant_ref_t ref, uint16_t dom, uint16_t off)
{
	struct gnttab_copy_ptr p = {.domid = dom, .offset = off};
	p.u.ref = ref;
	return p;
}

static struct gnttab_copy_ptr by_gfn(uint64_t gfn, uint16_t off)
{
	struct gnttab_copy_ptr p = {.domid = DOMID_SELF, .offset = off};
	p.u.gmfn = gfn;
	return p;
}

/* copy len bytes from (g, ref, soff) into self's own gfn at doff */
static int16_t copy_from(struct gnt_core *c, struct gnt_domain *self, struct gnt_domain *g,
			 grant_ref_t ref, uint16_t soff, uint64_t gfn, uint16_t doff, uint16_t len)
{
	struct gnttab_copy op = {.source = by_ref(ref, g->id, soff), .dest = by_gfn(gfn, doff),
				 .len = len, .flags = GNTCOPY_source_gref};
	return fx_copy(c, self, op);
}

static int16_t copy_to(struct gnt_core *c, struct gnt_domain *self, uint64_t gfn, uint16_t soff,
		       struct gnt_domain *g, grant_ref_t ref, uint16_t doff, uint16_t len)
{
	struct gnttab_copy op = {.source = by_gfn(gfn, soff), .dest = by_ref(ref, g->id, doff),
				 .len = len, .flags = GNTCOPY_dest_gref};
	return fx_copy(c, self, op);
}

#define UNCHANGED(c_, expr_)                                                                      \
	do {                                                                                       \
		struct fx_snap s__;                                                                \
		fx_snap((c_), &s__);                                                               \
		expr_;                                                                             \
		CHECK(fx_snap_same((c_), &s__));                                                   \
	} while (0)

static bool no_pins(struct gnt_core *c)
{
	for (struct gnt_domain *d = gnt_core_domain_next(c, 0); d;
	     d = gnt_core_domain_next(c, d->id + 1u))
		if (d->ext_pins)
			return false;
	return true;
}

/* ---- versions ----------------------------------------------------------- */

TEST(v2_get_version_rules)
{
	struct v2env e = v2env();
	struct gnttab_get_version op = {.dom = DOMID_SELF};

	CHECK_EQ(gnt_core_get_version(e.c, e.a, &op), 0);
	CHECK_EQ(op.version, 1); /* Xen's default */
	to_v2(e.c, e.a);
	op.dom = DOMID_SELF;
	CHECK_EQ(gnt_core_get_version(e.c, e.a, &op), 0);
	CHECK_EQ(op.version, 2);
	op.dom = e.a->id;
	CHECK_EQ(gnt_core_get_version(e.c, e.b, &op), -EPERM);
	CHECK_EQ(gnt_core_get_version(e.c, gnt_core_domain(e.c, 0), &op), 0);
	CHECK_EQ(op.version, 2);
	op.dom = 4000;
	CHECK_EQ(gnt_core_get_version(e.c, e.a, &op), -ESRCH);
	fx_destroy(e.c);
}

TEST(v2_set_version_bad_and_same)
{
	struct v2env e = v2env();
	uint32_t now = 99;

	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 3, &now), -EINVAL));
	CHECK_EQ(now, 1); /* written back: the version in effect */
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 0, &now), -EINVAL));
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 1, &now), 0));
	CHECK_EQ(now, 1);
	CHECK_EQ(set_version(e.c, e.a, 2, &now), 0);
	CHECK_EQ(now, 2);
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 2, &now), 0));
	CHECK_EQ(fk.status_live, 1);
	fx_destroy(e.c);
}

TEST(v2_set_version_without_status_backing_enosys)
{
	static struct gnt_core_ops ops;
	struct gnt_limits lim = {.max_grant_frames = 4, .max_maptrack_frames = 4, .max_pages = 64};
	struct gnt_core *c;
	uint32_t now = 0;

	ops = fake_ops;
	ops.status_alloc = NULL;
	ops.status_free = NULL;
	c = gnt_core_create(&ops, &fk, &lim);
	CHECK(c);
	CHECK_EQ(set_version(c, gnt_core_domain(c, 0), 2, &now), -ENOSYS);
	CHECK_EQ(now, 1);
	fx_destroy(c);
}

TEST(v2_set_version_enomem_changes_nothing)
{
	struct v2env e = v2env();
	uint32_t now = 0;

	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	fk.fail_status_alloc = true;
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 2, &now), -ENOMEM));
	CHECK_EQ(now, 1);
	fk.fail_status_alloc = false;
	fx_destroy(e.c);
}

TEST(v2_switch_ebusy_while_ref_pinned)
{
	struct v2env e = v2env();
	grant_handle_t h;
	uint32_t now = 0;

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 8, FX_RW, &h), GNTST_okay);
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 2, &now), -EBUSY));
	CHECK_EQ(now, 1);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK_EQ(set_version(e.c, e.a, 2, &now), 0);
	CHECK_EQ(now, 2);
	/* and back: pinned in v2 refuses too */
	grant_full(e.a, 300 % 256 + 8, e.b->id, e.ga, 0);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 52, FX_RO, &h), GNTST_okay);
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 1, &now), -EBUSY));
	CHECK_EQ(now, 2);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK_EQ(set_version(e.c, e.a, 1, &now), 0);
	fx_destroy(e.c);
}

TEST(v2_switch_keeps_reserved_refs_clears_the_rest)
{
	struct v2env e = v2env();
	grant_handle_t h;
	grant_entry_v2_t *r1;

	fx_grant(e.a, 1, e.b->id, e.ga, GTF_permit_access | GTF_readonly);
	fx_grant(e.a, 7, e.x->id, e.ga, GTF_permit_access);
	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	fx_grant(e.a, 100, e.b->id, e.ga, GTF_permit_access);
	/* a reserved ref may stay mapped across the switch */
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 1, FX_RO, &h), GNTST_okay);
	to_v2(e.c, e.a);
	r1 = e2(e.a, 1);
	CHECK_EQ(r1->hdr.flags, GTF_permit_access | GTF_readonly); /* reading moved out */
	CHECK_EQ(r1->hdr.domid, e.b->id);
	CHECK_EQ(r1->full_page.frame, e.ga);
	CHECK_EQ(status_of(e.a, 1), GTF_reading);
	CHECK_EQ(e2(e.a, 7)->hdr.domid, e.x->id);
	CHECK_EQ(status_of(e.a, 7), 0);
	for (grant_ref_t r = 8; r < GNT_V2_ENTRIES_PER_FRAME; r++)
		CHECK_EQ(e2(e.a, r)->__spacer[0] | e2(e.a, r)->__spacer[1] |
				 e2(e.a, r)->__spacer[2] | e2(e.a, r)->__spacer[3],
			 0);
	/* the pin taken under v1 is dropped in v2's status frame */
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK_EQ(status_of(e.a, 1), 0);
	CHECK_EQ(e2(e.a, 1)->hdr.flags, GTF_permit_access | GTF_readonly);
	/* back to v1, pinned again: status bits go back into flags */
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 1, FX_RO, &h), GNTST_okay);
	CHECK_EQ(set_version(e.c, e.a, 1, NULL), 0);
	CHECK_EQ(fx_flags(e.a, 1), GTF_permit_access | GTF_readonly | GTF_reading);
	CHECK_EQ(e.a->table[1].frame, e.ga);
	CHECK_EQ(e.a->table[100].flags, 0);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(e.a, 1), GTF_permit_access | GTF_readonly);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(v2_back_to_v1_erange_for_what_v1_cannot_say)
{
	struct v2env e = v2env();
	uint32_t now = 0;

	to_v2(e.c, e.a);
	grant_trans(e.a, 2, e.b->id, e.x->id, 9, 0);
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 1, &now), -ERANGE));
	CHECK_EQ(now, 2);
	memset(e2(e.a, 2), 0, sizeof(grant_entry_v2_t));
	grant_full(e.a, 3, e.b->id, (uint64_t)1 << 32, 0);
	UNCHANGED(e.c, CHECK_EQ(set_version(e.c, e.a, 1, &now), -ERANGE));
	grant_full(e.a, 3, e.b->id, e.ga, 0);
	/* a non-reserved transitive entry is simply cleared */
	grant_trans(e.a, 9, e.b->id, e.x->id, 9, 0);
	CHECK_EQ(set_version(e.c, e.a, 1, &now), 0);
	CHECK_EQ(now, 1);
	CHECK_EQ(e.a->table[3].frame, e.ga);
	fx_destroy(e.c);
}

TEST(v2_status_frames_op)
{
	struct v2env e = v2env();
	struct gnt_domain *d0 = gnt_core_domain(e.c, 0);
	struct gnttab_get_status_frames op = {.dom = DOMID_SELF};
	struct gnttab_setup_table st = {.dom = DOMID_SELF, .nr_frames = 4};
	uint64_t frames[8] = {0}, tf[8];

	op.nr_frames = 0;
	gnt_core_get_status_frames(e.c, e.a, &op, frames);
	CHECK_EQ(op.status, GNTST_general_error); /* v1: no status frames */
	to_v2(e.c, e.a);
	for (uint32_t n = 0; n <= 1; n++) {
		op.nr_frames = n;
		gnt_core_get_status_frames(e.c, e.a, &op, frames);
		CHECK_EQ(op.status, GNTST_okay);
	}
	CHECK(frames[0] != 0);
	op.nr_frames = 2; /* 1 table frame = 256 entries = 1 status frame */
	gnt_core_get_status_frames(e.c, e.a, &op, frames);
	CHECK_EQ(op.status, GNTST_general_error);
	op.nr_frames = UINT32_MAX;
	gnt_core_get_status_frames(e.c, e.a, &op, frames);
	CHECK_EQ(op.status, GNTST_general_error);
	/* 4 table frames: 1024 entries, still one status frame of 2048 */
	gnt_core_setup_table(e.c, e.a, &st, tf);
	op.nr_frames = 1;
	gnt_core_get_status_frames(e.c, e.a, &op, frames);
	CHECK_EQ(op.status, GNTST_okay);
	op.nr_frames = 2;
	gnt_core_get_status_frames(e.c, e.a, &op, frames);
	CHECK_EQ(op.status, GNTST_general_error);
	CHECK_EQ(gnt_core_status_frames(9), 2);
	op.dom = e.a->id;
	op.nr_frames = 1;
	gnt_core_get_status_frames(e.c, e.b, &op, frames);
	CHECK_EQ(op.status, GNTST_permission_denied);
	gnt_core_get_status_frames(e.c, d0, &op, frames);
	CHECK_EQ(op.status, GNTST_okay);
	op.dom = 4000;
	gnt_core_get_status_frames(e.c, d0, &op, frames);
	CHECK_EQ(op.status, GNTST_bad_domain);
	fx_destroy(e.c);
}

/* ---- full_page maps --------------------------------------------------- */

TEST(v2_map_full_page_status_in_status_frame)
{
	struct v2env e = v2env();
	grant_handle_t h, h2;
	struct fx_map m;

	to_v2(e.c, e.a);
	grant_full(e.a, 10, e.b->id, e.ga, 0);
	m = fx_map_op(e.c, e.b, e.a->id, 10, FX_RW, 0);
	CHECK_EQ(m.status, GNTST_okay);
	CHECK(m.unit && fake_page(m.unit, m.page) == fx_mem(e.a, e.ga));
	CHECK_EQ(status_of(e.a, 10), GTF_reading | GTF_writing);
	CHECK_EQ(e2(e.a, 10)->hdr.flags, GTF_permit_access); /* the guest's word untouched */
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 10, FX_RO, &h2), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.b, m.handle, 0, 0), GNTST_okay);
	CHECK_EQ(status_of(e.a, 10), GTF_reading);
	CHECK_EQ(fx_unmap(e.c, e.b, h2, 0, 0), GNTST_okay);
	CHECK_EQ(status_of(e.a, 10), 0);
	/* read-only grant: no writable map, a read-only one */
	grant_full(e.a, 11, e.b->id, e.ga, GTF_readonly);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 11, FX_RW, &h), GNTST_general_error));
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 11, FX_RO, &h), GNTST_okay);
	CHECK_EQ(status_of(e.a, 11), GTF_reading);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	/* granted to someone else; a frame not in a's memory */
	grant_full(e.a, 12, e.x->id, e.ga, 0);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 12, FX_RW, &h), GNTST_general_error));
	grant_full(e.a, 13, e.b->id, e.ga + 5, 0);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 13, FX_RW, &h), GNTST_bad_page));
	grant_full(e.a, 14, e.b->id, e.ga | ((uint64_t)1 << 40), 0);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 14, FX_RW, &h), GNTST_bad_page));
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(v2_map_refuses_sub_page_and_transitive)
{
	struct v2env e = v2env();
	grant_handle_t h;

	to_v2(e.c, e.a);
	grant_sub(e.a, 10, e.b->id, e.ga, 0, 4096, 0);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 10, FX_RO, &h), GNTST_general_error));
	grant_trans(e.a, 11, e.b->id, e.x->id, 9, 0);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 11, FX_RO, &h), GNTST_general_error));
	/* v1 too: GTF_sub_page on a map is refused (Xen's mask) */
	fx_grant(e.b, 9, e.a->id, e.gb, GTF_permit_access | GTF_sub_page);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.a, e.b->id, 9, FX_RO, &h), GNTST_general_error));
	fx_destroy(e.c);
}

TEST(v2_refs_bounded_by_v2_entries)
{
	struct v2env e = v2env();
	grant_handle_t h;

	fx_grant(e.a, 300, e.b->id, e.ga, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 300, FX_RO, &h), GNTST_okay); /* v1: 512 a frame */
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	to_v2(e.c, e.a);
	UNCHANGED(e.c, CHECK_EQ(fx_map(e.c, e.b, e.a->id, 256, FX_RO, &h), GNTST_bad_gntref));
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.b, e.a, 300, 0, e.gb, 0, 1), GNTST_bad_gntref));
	grant_full(e.a, 255, e.b->id, e.ga, 0);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 255, FX_RO, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	fx_destroy(e.c);
}

TEST(v2_interop_v1_granter_v2_mapper_and_reverse)
{
	struct v2env e = v2env();
	grant_handle_t h;

	to_v2(e.c, e.b); /* b is v2, a stays v1 */
	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 9, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_busy(e.a, 9), GTF_reading | GTF_writing); /* a's v1 flags */
	CHECK_EQ(copy_from(e.c, e.b, e.a, 9, 0, e.gb, 0, 64), GNTST_okay);
	CHECK(!memcmp(fx_mem(e.b, e.gb), fx_mem(e.a, e.ga), 64));
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	grant_full(e.b, 9, e.a->id, e.gb, 0);
	CHECK_EQ(fx_map(e.c, e.a, e.b->id, 9, FX_RW, &h), GNTST_okay);
	CHECK_EQ(status_of(e.b, 9), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(e.c, e.a, h, 0, 0), GNTST_okay);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

/* ---- sub_page copies ------------------------------------------------- */

TEST(v2_sub_page_copy_window_edges)
{
	struct v2env e = v2env();
	uint8_t *src = fx_mem(e.a, e.ga), *dst = fx_mem(e.b, e.gb);
	struct {
		uint16_t off, len;
		int16_t want;
	} cases[] = {
		{100, 200, GNTST_okay},           /* the whole window */
		{299, 1, GNTST_okay},             /* its last byte */
		{300, 0, GNTST_okay},             /* 0 bytes at its end */
		{300, 1, GNTST_general_error},    /* one past */
		{99, 1, GNTST_general_error},     /* one before */
		{99, 0, GNTST_general_error},     /* 0 bytes, still outside (Xen) */
		{4095, 2, GNTST_bad_copy_arg},    /* beyond the page */
		{65535, 1, GNTST_bad_copy_arg},
	};

	to_v2(e.c, e.a);
	grant_sub(e.a, 20, e.b->id, e.ga, 100, 200, GTF_readonly);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int16_t st;
		fill(dst, 101);
		st = copy_from(e.c, e.b, e.a, 20, cases[i].off, e.gb, 0, cases[i].len);
		if (st != cases[i].want)
			FAIL("off %u len %u: status %d, expected %d", cases[i].off, cases[i].len, st,
			     cases[i].want);
		if (st == GNTST_okay)
			CHECK(!memcmp(dst, src + cases[i].off, cases[i].len));
		CHECK_EQ(status_of(e.a, 20), 0);
	}
	/* a window that ends at the page's end */
	grant_sub(e.a, 21, e.b->id, e.ga, 4000, 96, 0);
	CHECK_EQ(copy_from(e.c, e.b, e.a, 21, 4000, e.gb, 0, 96), GNTST_okay);
	CHECK(!memcmp(dst, src + 4000, 96));
	/* a window beyond the page is no grant, whatever is copied */
	grant_sub(e.a, 22, e.b->id, e.ga, 4000, 97, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.b, e.a, 22, 4000, e.gb, 0, 1),
				GNTST_general_error));
	grant_sub(e.a, 23, e.b->id, e.ga, 0xFFFF, 0xFFFF, 0); /* no 16-bit wrap */
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.b, e.a, 23, 0, e.gb, 0, 0),
				GNTST_general_error));
	/* writing into a window: only inside it, only with write access */
	fill(src, 1);
	CHECK_EQ(copy_to(e.c, e.b, e.gb, 0, e.a, 21, 4090, 6), GNTST_okay);
	CHECK(!memcmp(src + 4090, dst, 6));
	UNCHANGED(e.c, CHECK_EQ(copy_to(e.c, e.b, e.gb, 0, e.a, 21, 3999, 2),
				GNTST_general_error));
	UNCHANGED(e.c, CHECK_EQ(copy_to(e.c, e.b, e.gb, 0, e.a, 20, 100, 1),
				GNTST_general_error)); /* read-only */
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

/* ---- transitive copies ---------------------------------------------- */

TEST(v2_transitive_copy_one_hop)
{
	struct v2env e = v2env();
	uint8_t *dst = fx_mem(e.x, e.gx);

	/* a grants a page to b; b passes it on to x transitively */
	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	to_v2(e.c, e.b);
	grant_trans(e.b, 30, e.x->id, e.a->id, 9, 0);
	CHECK_EQ(copy_from(e.c, e.x, e.b, 30, 8, e.gx, 0, 100), GNTST_okay);
	CHECK(!memcmp(dst, fx_mem(e.a, e.ga) + 8, 100));
	/* and back into it: the hop needs write access too */
	fill(dst, 77);
	CHECK_EQ(copy_to(e.c, e.x, e.gx, 0, e.b, 30, 0, 4096), GNTST_okay);
	CHECK(!memcmp(dst, fx_mem(e.a, e.ga), 4096));
	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access | GTF_readonly);
	UNCHANGED(e.c, CHECK_EQ(copy_to(e.c, e.x, e.gx, 0, e.b, 30, 0, 1), GNTST_general_error));
	/* a read-only transitive grant over a writable one: read only */
	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	grant_trans(e.b, 31, e.x->id, e.a->id, 9, GTF_readonly);
	UNCHANGED(e.c, CHECK_EQ(copy_to(e.c, e.x, e.gx, 0, e.b, 31, 0, 1), GNTST_general_error));
	/* the hop's window is the copy's window */
	to_v2(e.c, e.a);
	grant_sub(e.a, 9, e.b->id, e.ga, 10, 20, 0);
	CHECK_EQ(copy_from(e.c, e.x, e.b, 30, 10, e.gx, 0, 20), GNTST_okay);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 30, 9, e.gx, 0, 2),
				GNTST_general_error));
	/* the hop must be granted to b, the transitive granter */
	grant_full(e.a, 9, e.x->id, e.ga, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 30, 0, e.gx, 0, 1),
				GNTST_general_error));
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(v2_transitive_back_to_origin_self_depth_and_bad_targets)
{
	struct v2env e = v2env();

	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	to_v2(e.c, e.b);
	to_v2(e.c, e.x);
	/* A -> B -> A: allowed */
	grant_trans(e.b, 30, e.a->id, e.a->id, 9, 0);
	CHECK_EQ(copy_from(e.c, e.a, e.b, 30, 0, e.ga, 100, 50), GNTST_okay);
	/* self-referential */
	grant_full(e.b, 31, e.b->id, e.gb, 0);
	grant_trans(e.b, 32, e.x->id, e.b->id, 31, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 32, 0, e.gx, 0, 1),
				GNTST_general_error));
	/* depth 2: x -> b(transitive) -> a */
	grant_trans(e.b, 33, e.x->id, e.a->id, 9, 0);
	grant_trans(e.x, 40, e.a->id, e.b->id, 33, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.a, e.x, 40, 0, e.ga, 0, 1),
				GNTST_general_error));
	/* unknown domain, reserved ids, a ref beyond the target's table */
	grant_trans(e.b, 34, e.x->id, 4000, 9, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 34, 0, e.gx, 0, 1),
				GNTST_general_error));
	grant_trans(e.b, 34, e.x->id, DOMID_SELF, 9, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 34, 0, e.gx, 0, 1),
				GNTST_general_error));
	grant_trans(e.b, 34, e.x->id, e.a->id, 100000, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.b, 34, 0, e.gx, 0, 1), GNTST_bad_gntref));
	/* a transitive grant from a v1 table is no grant */
	fx_grant(e.a, 10, e.x->id, 0, GTF_transitive);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.x, e.a, 10, 0, e.gx, 0, 1),
				GNTST_general_error));
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

/* The guest rewrites its entries while gntd copies: the copy uses what was
 * latched, and the pins it drops are exactly the ones it took. */
struct rewrite {
	struct v2env *e;
	int calls;
	bool pinned_seen;
};

static void rewrite_during_copy(void *arg)
{
	struct rewrite *w = arg;
	struct v2env *e = w->e;

	w->calls++;
	w->pinned_seen = status_of(e->b, 30) == GTF_reading && fx_busy(e->a, 9) == GTF_reading &&
			 e->b->active[30].trans && e->a->active[9].domid == e->b->id;
	grant_trans(e->b, 30, e->x->id, e->a->id, 10, 0); /* another hop */
	grant_full(e->b, 31, e->x->id, e->gb, 0);
	fx_grant(e->a, 9, e->x->id, e->gb, GTF_permit_access); /* another grantee, frame */
	e2(e->b, 30)->hdr.flags = GTF_permit_access | GTF_sub_page;
}

TEST(v2_transitive_rewritten_mid_copy)
{
	struct v2env e = v2env();
	struct rewrite w = {.e = &e};
	uint8_t *dst = fx_mem(e.x, e.gx);

	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	fx_grant(e.a, 10, e.b->id, e.ga, GTF_permit_access);
	to_v2(e.c, e.b);
	grant_trans(e.b, 30, e.x->id, e.a->id, 9, 0);
	fk.during_copy = rewrite_during_copy;
	fk.during_copy_arg = &w;
	CHECK_EQ(copy_from(e.c, e.x, e.b, 30, 0, e.gx, 0, 4096), GNTST_okay);
	fk.during_copy = NULL;
	CHECK_EQ(w.calls, 1);
	CHECK(w.pinned_seen);
	CHECK(!memcmp(dst, fx_mem(e.a, e.ga), 4096)); /* the latched frame */
	CHECK_EQ(status_of(e.b, 30), 0);
	CHECK_EQ(fx_busy(e.a, 9), 0);
	CHECK_EQ(fx_busy(e.a, 10), 0);
	CHECK_EQ(fx_flags(e.a, 9), GTF_permit_access); /* the guest's rewrite stays */
	CHECK(no_pins(e.c));
	/* the rewritten entry rules the next copy: no longer the old grant */
	CHECK(copy_from(e.c, e.x, e.b, 30, 0, e.gx, 0, 1) != GNTST_okay);
	fx_destroy(e.c);
}

TEST(v2_pinned_entry_rewritten_copy_uses_latched)
{
	struct v2env e = v2env();
	struct fx_map m;

	to_v2(e.c, e.a);
	grant_full(e.a, 10, e.b->id, e.ga, 0);
	m = fx_map_op(e.c, e.b, e.a->id, 10, FX_RW, 0);
	CHECK_EQ(m.status, GNTST_okay);
	/* XSA-500: frame, sub_page window and type rewritten while pinned */
	grant_sub(e.a, 10, e.b->id, e.gx, 1, 1, 0);
	CHECK_EQ(copy_from(e.c, e.b, e.a, 10, 0, e.gb, 0, 4096), GNTST_okay);
	CHECK(!memcmp(fx_mem(e.b, e.gb), fx_mem(e.a, e.ga), 4096));
	grant_trans(e.a, 10, e.b->id, e.x->id, 9, 0);
	CHECK_EQ(copy_from(e.c, e.b, e.a, 10, 0, e.gb, 0, 4096), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.b, m.handle, 0, 0), GNTST_okay);
	CHECK_EQ(status_of(e.a, 10), 0);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(v2_unstable_header_backed_out)
{
	struct v2env e = v2env();

	to_v2(e.c, e.a);
	/* a header naming someone else is refused before the status is set */
	grant_full(e.a, 10, e.x->id, e.ga, 0);
	UNCHANGED(e.c, CHECK_EQ(copy_from(e.c, e.b, e.a, 10, 0, e.gb, 0, 1),
				GNTST_general_error));
	CHECK_EQ(status_of(e.a, 10), 0);
	fx_destroy(e.c);
}

/* ---- switching while others map and copy ------------------------------ */

TEST(v2_switch_storm_against_map_and_copy)
{
	struct v2env e = v2env();

	for (int i = 0; i < 400; i++) {
		uint32_t want = 2 - (uint32_t)(i % 2);
		grant_handle_t h = 0;
		int16_t st;
		int rc;

		/* a grant in whatever version the table has now */
		if (e.a->version == 2)
			grant_full(e.a, 9 + (uint32_t)i % 200, e.b->id, e.ga, 0);
		else
			fx_grant(e.a, 9 + (uint32_t)i % 200, e.b->id, e.ga, GTF_permit_access);
		st = fx_map(e.c, e.b, e.a->id, 9 + (uint32_t)i % 200, FX_RW, &h);
		CHECK_EQ(st, GNTST_okay);
		rc = set_version(e.c, e.a, want, NULL);
		CHECK_EQ(rc, -EBUSY); /* want is never the version in effect */
		CHECK(e.a->version != want);
		/* a copy through the pinned ref uses what was latched */
		CHECK_EQ(copy_from(e.c, e.b, e.a, 9 + (uint32_t)i % 200, 0, e.gb, 0, 16), GNTST_okay);
		CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
		/* unpinned: the switch goes through and the old grant is gone */
		CHECK_EQ(set_version(e.c, e.a, want, NULL), 0);
		CHECK_EQ(e.a->version, want);
		CHECK_EQ(copy_from(e.c, e.b, e.a, 9 + (uint32_t)i % 200, 0, e.gb, 0, 16),
			 GNTST_general_error);
		CHECK(no_pins(e.c));
	}
	fx_destroy(e.c);
}

TEST(v2_granter_dies_while_mapped_zombie_keeps_status)
{
	struct v2env e = v2env();
	grant_handle_t h;

	to_v2(e.c, e.a);
	grant_full(e.a, 10, e.b->id, e.ga, 0);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 10, FX_RW, &h), GNTST_okay);
	gnt__core_domain_release(e.c, e.a);
	CHECK(gnt_core_domain(e.c, 1) && gnt_core_domain(e.c, 1)->state == GNT_DOM_DYING);
	CHECK_EQ(fk.status_live, 1);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK(!gnt_core_domain(e.c, 1));
	CHECK_EQ(fk.status_live, 0);
	fx_destroy(e.c);
}
