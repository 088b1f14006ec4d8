/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_multipage.c - the unit rule (design.md): a page of a
 * multi-page unit maps only if every page of the unit is granted to the
 * mapper (writable for a writable map); the exposure then pins one covering
 * entry per page until the mapper's last handle into the unit goes.
 */
#include "fixture.h"

struct mp {
	struct gnt_core *c;
	struct gnt_domain *g, *m, *x;
	uint64_t base; /* a 3-page unit of g */
	struct gnt_unit *u;
};

static struct mp mp(void)
{
	struct mp p;

	p.c = fx_core();
	p.g = fx_dom(p.c, "granter");
	p.m = fx_dom(p.c, "mapper");
	p.x = fx_dom(p.c, "other");
	p.base = fx_alloc(p.c, p.g, 3);
	p.u = gnt_core_unit_of_gfn(p.g, p.base, NULL);
	return p;
}

static uint32_t exposures(struct gnt_core *c)
{
	struct gnt_core_stats st;
	gnt_core_stats(c, &st);
	return (uint32_t)st.exposures;
}

TEST(multipage_full_grant_pins_all_pages)
{
	struct mp p = mp();
	struct fx_map r;

	CHECK_EQ(p.u->npages, 3);
	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access | GTF_readonly);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access | GTF_readonly);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access | GTF_readonly);
	r = fx_map_op(p.c, p.m, p.g->id, 9, FX_RO, 0);
	CHECK_EQ(r.status, GNTST_okay);
	CHECK(r.unit == p.u);
	CHECK_EQ(r.page, 1);
	/* every covering entry is in use and pinned for the mapper */
	for (grant_ref_t ref = 8; ref <= 10; ref++) {
		const struct gnt_active *a = gnt_core_active(p.g, ref);
		CHECK_EQ(fx_busy(p.g, ref), GTF_reading);
		CHECK_EQ(a->xr, 1); /* the exposure's pin on every page */
		CHECK_EQ(a->rd, ref == 9); /* the mapping's own, on its page */
		CHECK_EQ(a->wr + a->xw, 0);
		CHECK_EQ(a->domid, p.m->id);
		CHECK_EQ(a->unit, p.u->id);
		CHECK_EQ(a->page, ref - 8);
	}
	CHECK_EQ(fx_pins(p.g, 8), 1);
	CHECK_EQ(fx_pins(p.g, 9), 2); /* the handle's own pin and the cover */
	CHECK_EQ(fx_pins(p.g, 10), 1);
	CHECK_EQ(exposures(p.c), 1);
	CHECK_EQ(p.u->refs, 2);
	CHECK(p.u->expos != NULL);
	CHECK_EQ(p.u->expos->mapper, p.m->id);
	CHECK(!p.u->expos->writable);
	CHECK_EQ(p.u->expos->handles, 1);
	/* unmapping the only handle releases every page */
	CHECK_EQ(fx_unmap(p.c, p.m, r.handle, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++) {
		CHECK_EQ(fx_busy(p.g, ref), 0);
		CHECK_EQ(fx_pins(p.g, ref), 0);
		CHECK_EQ(fx_flags(p.g, ref), GTF_permit_access | GTF_readonly);
	}
	CHECK_EQ(exposures(p.c), 0);
	CHECK_EQ(p.u->refs, 1);
	CHECK(p.u->expos == NULL);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}

TEST(multipage_partial_grant_refused)
{
	struct mp p = mp();
	struct fx_snap s;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	/* page 2 not granted at all */
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RW, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_busy(p.g, 9), 0);
	/* page 2 granted to someone else */
	fx_grant(p.g, 10, p.x->id, p.base + 2, GTF_permit_access);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	/* ... nor can x map its page: pages 0 and 1 are not granted to x */
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.x, p.g->id, 10, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	/* page 2 granted with the wrong type */
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_accept_transfer);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	/* once complete, the same map works */
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 10), GTF_reading);
	fx_destroy(p.c);
}

TEST(multipage_rw_needs_every_page_writable)
{
	struct mp p = mp();
	struct fx_snap s;
	grant_handle_t h;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access | GTF_readonly);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, NULL), GNTST_general_error);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, GNTMAP_device_map, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	/* read-only is fine: every page is readable */
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++)
		CHECK_EQ(fx_busy(p.g, ref), GTF_reading);
	/* a writable map is still refused while the RO exposure exists */
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	/* a second writable grant of page 2 makes the unit writable */
	fx_grant(p.g, 11, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(fx_busy(p.g, 9), GTF_reading | GTF_writing);
	CHECK_EQ(fx_busy(p.g, 10), 0);
	CHECK_EQ(fx_busy(p.g, 11), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 11), 0);
	fx_destroy(p.c);
}

TEST(multipage_handles_share_exposure)
{
	struct mp p = mp();
	grant_handle_t h0, h2, h2b;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h0), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 10, FX_RO, &h2), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 10, FX_RO, &h2b), GNTST_okay);
	CHECK_EQ(exposures(p.c), 1);
	CHECK_EQ(p.u->expos->handles, 3);
	CHECK_EQ(p.g->ext_pins, 3 + 3); /* 3 handles + 3 covers */
	/* page 1 has no handle but stays pinned while any handle is in the unit */
	CHECK_EQ(fx_unmap(p.c, p.m, h0, 0, 0), GNTST_okay);
	CHECK_EQ(fx_unmap(p.c, p.m, h2, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++)
		CHECK_EQ(fx_busy(p.g, ref), GTF_reading);
	CHECK_EQ(exposures(p.c), 1);
	CHECK_EQ(fx_unmap(p.c, p.m, h2b, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++) {
		CHECK_EQ(fx_busy(p.g, ref), 0);
		CHECK_EQ(fx_pins(p.g, ref), 0);
	}
	CHECK_EQ(exposures(p.c), 0);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}

TEST(multipage_ro_and_rw_exposures)
{
	struct mp p = mp();
	grant_handle_t ro, rw;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RO, &ro), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RW, &rw), GNTST_okay);
	CHECK_EQ(exposures(p.c), 2);
	CHECK_EQ(p.u->refs, 3);
	for (grant_ref_t ref = 8; ref <= 10; ref++)
		CHECK_EQ(fx_busy(p.g, ref), GTF_reading | GTF_writing);
	/* the last writer goes: GTF_writing off on every page, reading stays */
	CHECK_EQ(fx_unmap(p.c, p.m, rw, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++) {
		CHECK_EQ(fx_busy(p.g, ref), GTF_reading);
		CHECK_EQ(gnt_core_active(p.g, ref)->wr, 0);
	}
	CHECK_EQ(exposures(p.c), 1);
	CHECK_EQ(fx_unmap(p.c, p.m, ro, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 10; ref++)
		CHECK_EQ(fx_busy(p.g, ref), 0);
	CHECK_EQ(p.u->refs, 1);
	fx_destroy(p.c);
}

TEST(multipage_duplicate_grants_of_a_page)
{
	struct mp p = mp();
	grant_handle_t h;
	uint32_t busy = 0;

	/* page 0 granted twice; mapping through the second one */
	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	fx_grant(p.g, 11, p.m->id, p.base + 0, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 11, FX_RO, &h), GNTST_okay);
	/* one covering entry per page: the op's own ref covers page 0 */
	for (grant_ref_t ref = 8; ref <= 11; ref++)
		busy += fx_busy(p.g, ref) != 0;
	CHECK_EQ(busy, 3);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_busy(p.g, 11), GTF_reading);
	CHECK_EQ(p.g->ext_pins, 1 + 3);
	/* the spare grant can be mapped too: same exposure */
	{
		grant_handle_t h8;
		CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h8), GNTST_okay);
		CHECK_EQ(exposures(p.c), 1);
		CHECK_EQ(fx_unmap(p.c, p.m, h8, 0, 0), GNTST_okay);
		CHECK_EQ(fx_busy(p.g, 8), 0);
	}
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 11; ref++)
		CHECK_EQ(fx_busy(p.g, ref), 0);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}

TEST(multipage_cover_beyond_nr_frames_does_not_count)
{
	struct mp p = mp();
	struct gnttab_setup_table st = {.dom = DOMID_SELF, .nr_frames = 2};
	uint64_t frames[2];
	struct fx_snap s;
	grant_handle_t h;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 600, p.m->id, p.base + 2, GTF_permit_access); /* outside 1 frame */
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(gnt_core_setup_table(p.c, p.g, &st, frames), 0);
	CHECK_EQ(st.status, GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 600), GTF_reading);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 600), 0);
	fx_destroy(p.c);
}

TEST(multipage_separate_extents_map_alone)
{
	struct mp p = mp();
	uint64_t gfns[3];
	struct gnt_unit *first;
	struct xen_memory_reservation r = {.nr_extents = 3, .domid = DOMID_SELF};
	struct fx_map m;

	/* three extents without GNT_MEMF_one_unit: three units; one page granted
	 * alone maps fine and pins only itself */
	CHECK_EQ(gnt_core_populate(p.c, p.g, &r, gfns, &first), 3);
	fx_grant(p.g, 8, p.m->id, gfns[1], GTF_permit_access);
	m = fx_map_op(p.c, p.m, p.g->id, 8, FX_RW, 0);
	CHECK_EQ(m.status, GNTST_okay);
	CHECK_EQ(m.unit->npages, 1);
	CHECK_EQ(m.page, 0);
	CHECK_EQ(p.g->ext_pins, 2);
	CHECK_EQ(fx_unmap(p.c, p.m, m.handle, 0, 0), GNTST_okay);
	fx_destroy(p.c);
}

/* A covering entry that the mapper already pins, but whose latched frame is
 * in another unit (the guest rewrote it after the first pin), does not cover
 * this unit: refused, nothing changed.  Checked with a latched page of a
 * different index, and with the same page index in another unit. */
TEST(multipage_cover_latched_elsewhere_refused)
{
	struct mp p = mp();
	uint64_t one = fx_alloc(p.c, p.g, 1), two = fx_alloc(p.c, p.g, 2);
	struct gnt_unit *u_one = gnt_core_unit_of_gfn(p.g, one, NULL);
	struct gnt_unit *u_two = gnt_core_unit_of_gfn(p.g, two, NULL);
	struct fx_snap s;
	grant_handle_t h9, h21;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	/* ref 9 pinned on page 0 of a one-page unit */
	fx_grant(p.g, 9, p.m->id, one, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RO, &h9), GNTST_okay);
	/* hostile guest: point the pinned entry at page 1 of the big unit */
	__atomic_store_n(&p.g->table[9].frame, (uint32_t)(p.base + 1), __ATOMIC_RELEASE);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_busy(p.g, 10), 0);
	CHECK_EQ(gnt_core_active(p.g, 9)->unit, u_one->id);
	CHECK_EQ(fx_unmap(p.c, p.m, h9, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 9), GTF_permit_access);
	fx_grant(p.g, 9, 0, 0, GTF_invalid); /* the guest ends it */

	/* ref 21 pinned on page 1 of another 2-page unit: same page index */
	fx_grant(p.g, 20, p.m->id, two, GTF_permit_access);
	fx_grant(p.g, 21, p.m->id, two + 1, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 21, FX_RO, &h21), GNTST_okay);
	CHECK_EQ(gnt_core_active(p.g, 21)->page, 1);
	__atomic_store_n(&p.g->table[21].frame, (uint32_t)(p.base + 1), __ATOMIC_RELEASE);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(gnt_core_active(p.g, 21)->unit, u_two->id);
	CHECK_EQ(fx_unmap(p.c, p.m, h21, 0, 0), GNTST_okay);
	/* unpinned, the rewritten entry is taken at its word */
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 21), GTF_reading);
	CHECK_EQ(gnt_core_active(p.g, 21)->unit, p.u->id);
	fx_destroy(p.c);
}

/* Same unit, other page: ref 9 is pinned (read-only exposure) on page 1, the
 * guest rewrites it to name page 2 and hands page 2's own grant to someone
 * else.  A writable map must not take ref 9 as the cover of page 2. */
TEST(multipage_cover_latched_other_page_refused)
{
	struct mp p = mp();
	struct fx_snap s;
	grant_handle_t ro;

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RO, &ro), GNTST_okay);
	CHECK_EQ(gnt_core_active(p.g, 9)->page, 1);
	/* hostile: 9 now names page 2, 10 names another domain, 11 covers page 1 */
	__atomic_store_n(&p.g->table[9].frame, (uint32_t)(p.base + 2), __ATOMIC_RELEASE);
	__atomic_store_n(&p.g->table[10].domid, p.x->id, __ATOMIC_RELEASE);
	fx_grant(p.g, 11, p.m->id, p.base + 1, GTF_permit_access);
	fx_snap(p.c, &s);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, NULL), GNTST_general_error);
	CHECK(fx_snap_same(p.c, &s));
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading); /* the RO exposure's cover only */
	CHECK_EQ(gnt_core_active(p.g, 9)->wr, 0);
	CHECK_EQ(fx_busy(p.g, 11), 0);
	CHECK_EQ(fx_unmap(p.c, p.m, ro, 0, 0), GNTST_okay);
	for (grant_ref_t ref = 8; ref <= 11; ref++)
		CHECK_EQ(fx_busy(p.g, ref), 0);
	fx_destroy(p.c);
}

TEST(multipage_release_with_mapper_death)
{
	struct mp p = mp();

	fx_grant(p.g, 8, p.m->id, p.base + 0, GTF_permit_access);
	fx_grant(p.g, 9, p.m->id, p.base + 1, GTF_permit_access);
	fx_grant(p.g, 10, p.m->id, p.base + 2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 9, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(p.c, p.m);
	for (grant_ref_t ref = 8; ref <= 10; ref++) {
		CHECK_EQ(fx_busy(p.g, ref), 0);
		CHECK_EQ(fx_pins(p.g, ref), 0);
	}
	CHECK_EQ(exposures(p.c), 0);
	CHECK_EQ(p.u->refs, 1);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}
