/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_hostile.c - a granter that rewrites its shared entries
 * between calls.  The frame and grantee are latched at the first pin; later
 * rewrites change nothing until the last pin goes, and gntd only ever clears
 * its own bits.
 */
#include "fixture.h"

struct henv {
	struct gnt_core *c;
	struct gnt_domain *g, *m, *x;
	uint64_t p1, p2; /* two one-page units of g */
};

static struct henv henv(void)
{
	struct henv e;

	e.c = fx_core();
	e.g = fx_dom(e.c, "g");
	e.m = fx_dom(e.c, "m");
	e.x = fx_dom(e.c, "x");
	e.p1 = fx_alloc(e.c, e.g, 1);
	e.p2 = fx_alloc(e.c, e.g, 1);
	memset(fx_mem(e.g, e.p1), 0x11, GNT_PAGE_SIZE);
	memset(fx_mem(e.g, e.p2), 0x22, GNT_PAGE_SIZE);
	return e;
}

/* The guest rewrites frame and domid of a live entry (keeping our bits). */
static void rewrite(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint64_t gfn)
{
	__atomic_store_n(&g->table[ref].domid, to, __ATOMIC_RELAXED);
	__atomic_store_n(&g->table[ref].frame, (uint32_t)gfn, __ATOMIC_RELEASE);
}

TEST(hostile_rewrite_after_map_is_latched)
{
	struct henv e = henv();
	struct gnt_unit *u1 = gnt_core_unit_of_gfn(e.g, e.p1, NULL);
	const struct gnt_active *a = gnt_core_active(e.g, 8);
	struct gnt_active before;
	struct fx_map r1, r2;

	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access);
	r1 = fx_map_op(e.c, e.m, e.g->id, 8, FX_RO, 0);
	CHECK_EQ(r1.status, GNTST_okay);
	CHECK(r1.unit == u1);
	before = *a;
	rewrite(e.g, 8, e.x->id, e.p2);
	/* the active entry does not follow the shared one */
	CHECK_EQ(a->domid, before.domid);
	CHECK_EQ(a->unit, before.unit);
	CHECK_EQ(a->page, before.page);
	CHECK_EQ(a->gfn, e.p1);
	/* a second map by the pinning domain uses the latched frame */
	r2 = fx_map_op(e.c, e.m, e.g->id, 8, FX_RO, 0);
	CHECK_EQ(r2.status, GNTST_okay);
	CHECK(r2.unit == u1);
	CHECK_EQ(r2.page, 0);
	CHECK_EQ(fake_page(r2.unit, r2.page)[0], 0x11);
	/* the new grantee named by the entry cannot use it while m pins it */
	{
		struct fx_snap s;
		fx_snap(e.c, &s);
		CHECK_EQ(fx_map(e.c, e.x, e.g->id, 8, FX_RO, NULL), GNTST_general_error);
		CHECK(fx_snap_same(e.c, &s));
	}
	/* a writable map needs a fresh check of the entry: it names x now */
	{
		struct fx_snap s;
		fx_snap(e.c, &s);
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, NULL), GNTST_general_error);
		CHECK(fx_snap_same(e.c, &s));
	}
	CHECK_EQ(fx_unmap(e.c, e.m, r1.handle, 0, 0), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, r2.handle, 0, 0), GNTST_okay);
	/* only our bits were cleared: the guest's rewrite stands */
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	CHECK_EQ(e.g->table[8].domid, e.x->id);
	CHECK_EQ(e.g->table[8].frame, (uint32_t)e.p2);
	/* unpinned, the entry is taken as it is now */
	r1 = fx_map_op(e.c, e.x, e.g->id, 8, FX_RO, 0);
	CHECK_EQ(r1.status, GNTST_okay);
	CHECK(r1.unit == gnt_core_unit_of_gfn(e.g, e.p2, NULL));
	CHECK_EQ(a->domid, e.x->id);
	CHECK_EQ(a->gfn, e.p2);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_general_error);
	fx_destroy(e.c);
}

TEST(hostile_copy_uses_latched_frame)
{
	struct henv e = henv();
	uint64_t mine = fx_alloc(e.c, e.m, 1);
	grant_handle_t h;
	struct gnttab_copy op = {
	    .source = {.u.ref = 8, .domid = e.g->id},
	    .dest = {.u.gmfn = mine, .domid = DOMID_SELF},
	    .len = 16,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	rewrite(e.g, 8, e.m->id, e.p2);
	CHECK_EQ(fx_copy(e.c, e.m, op), GNTST_okay);
	CHECK_EQ(fx_mem(e.m, mine)[0], 0x11); /* p1, not p2 */
	CHECK_EQ(fx_mem(e.m, mine)[15], 0x11);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	/* unpinned: the copy reads the rewritten frame */
	CHECK_EQ(fx_copy(e.c, e.m, op), GNTST_okay);
	CHECK_EQ(fx_mem(e.m, mine)[0], 0x22);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(hostile_guest_clears_flags_while_mapped)
{
	struct henv e = henv();
	grant_handle_t h1, h2;

	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h1), GNTST_okay);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h2), GNTST_okay);
	/* the guest "revokes" an entry in use (Xen's protocol forbids it) */
	__atomic_store_n(&e.g->table[8].flags, 0, __ATOMIC_RELEASE);
	/* the pin and the mapper's view do not change */
	CHECK(fx_pins(e.g, 8) > 0);
	CHECK_EQ(fx_unmap(e.c, e.m, h1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(e.g, 8), 0); /* nothing set back */
	/* a new map on the pinned entry still works read-only: latched */
	{
		grant_handle_t h3;
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h3), GNTST_okay);
		CHECK_EQ(fx_unmap(e.c, e.m, h3, 0, 0), GNTST_okay);
	}
	/* but a writable one must check the entry again: refused */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, NULL), GNTST_general_error);
	CHECK_EQ(fx_unmap(e.c, e.m, h2, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(e.g, 8), 0);
	CHECK_EQ(fx_pins(e.g, 8), 0);
	CHECK_EQ(e.g->ext_pins, 0);
	/* empty now: maps fail */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_general_error);
	fx_destroy(e.c);
}

TEST(hostile_readonly_set_after_pin)
{
	struct henv e = henv();
	grant_handle_t ro, rw, rw2;

	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &ro), GNTST_okay);
	/* the guest makes it read-only (legal while not GTF_writing) */
	__atomic_fetch_or(&e.g->table[8].flags, (uint16_t)GTF_readonly, __ATOMIC_SEQ_CST);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, NULL), GNTST_general_error);
	CHECK_EQ(fx_busy(e.g, 8), GTF_reading);
	CHECK_EQ(fx_unmap(e.c, e.m, ro, 0, 0), GNTST_okay);
	/* write-pinned first: further writable maps are not re-checked (Xen) */
	fx_grant(e.g, 9, e.m->id, e.p2, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 9, FX_RW, &rw), GNTST_okay);
	__atomic_fetch_or(&e.g->table[9].flags, (uint16_t)GTF_readonly, __ATOMIC_SEQ_CST);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 9, FX_RW, &rw2), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, rw, 0, 0), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, rw2, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(e.g, 9), GTF_permit_access | GTF_readonly);
	fx_destroy(e.c);
}

TEST(hostile_guest_sets_our_bits)
{
	struct henv e = henv();
	grant_handle_t h;

	/* the guest sets GTF_reading|GTF_writing itself on an unused entry */
	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access | GTF_reading | GTF_writing);
	CHECK_EQ(fx_pins(e.g, 8), 0);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	/* they are ours: cleared when the last pin goes */
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(hostile_garbage_frames)
{
	struct henv e = henv();
	static const uint32_t bad[] = {0, 1, 0xff, 0xFFFFFFFFu, 0x80000000u};
	struct fx_snap s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fx_grant(e.g, 8, e.m->id, bad[i], GTF_permit_access);
		fx_snap(e.c, &s);
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, NULL), GNTST_bad_page);
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_bad_page);
		CHECK(fx_snap_same(e.c, &s));
	}
	/* the gfn just past the last unit, and the one before the first */
	fx_grant(e.g, 8, e.m->id, e.p2 + 1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_bad_page);
	fx_grant(e.g, 8, e.m->id, e.p1 - 1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_bad_page);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(hostile_rewrite_frame_into_multipage_unit)
{
	struct henv e = henv();
	uint64_t big = fx_alloc(e.c, e.g, 2);
	grant_handle_t h;
	struct fx_snap s;

	/* a one-page grant mapped, then rewritten to point into a 2-page unit the
	 * mapper was never wholly granted: further maps stay on the latched page */
	fx_grant(e.g, 8, e.m->id, e.p1, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	rewrite(e.g, 8, e.m->id, big);
	{
		struct fx_map r = fx_map_op(e.c, e.m, e.g->id, 8, FX_RO, 0);
		CHECK_EQ(r.status, GNTST_okay);
		CHECK(r.unit == gnt_core_unit_of_gfn(e.g, e.p1, NULL));
		CHECK_EQ(fx_unmap(e.c, e.m, r.handle, 0, 0), GNTST_okay);
	}
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	/* unpinned, it names half of the big unit: the unit rule refuses */
	fx_snap(e.c, &s);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(e.c, &s));
	fx_destroy(e.c);
}
