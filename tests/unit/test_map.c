/* SPDX-License-Identifier: MIT */
/* tests/unit/test_map.c - successful map/unmap: shared flags, pins, handles. */
#include "fixture.h"

struct pair {
	struct gnt_core *c;
	struct gnt_domain *g, *m; /* granter, mapper */
	uint64_t gfn;		  /* a one-page unit of g */
};

static struct pair pair(void)
{
	struct pair p;

	p.c = fx_core();
	p.g = fx_dom(p.c, "granter");
	p.m = fx_dom(p.c, "mapper");
	p.gfn = fx_alloc(p.c, p.g, 1);
	return p;
}

TEST(map_ro_sets_reading_unmap_clears)
{
	struct pair p = pair();
	struct gnt_unit *u = gnt_core_unit_of_gfn(p.g, p.gfn, NULL);
	const struct gnt_active *a;
	struct gnt_core_stats st;
	struct fx_map r;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access | GTF_readonly);
	r = fx_map_op(p.c, p.m, p.g->id, 8, FX_RO, 0x7000);
	CHECK_EQ(r.status, GNTST_okay);
	CHECK(r.handle != UINT32_MAX);
	CHECK(r.unit == u);
	CHECK_EQ(r.page, 0);
	CHECK_EQ(r.dev_bus_addr, 0); /* no device_map asked */
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access | GTF_readonly | GTF_reading);
	a = gnt_core_active(p.g, 8);
	CHECK(a->rd > 0);
	CHECK_EQ(a->wr, 0);
	CHECK_EQ(a->domid, p.m->id);
	CHECK_EQ(a->unit, u->id);
	CHECK_EQ(a->page, 0);
	CHECK_EQ(a->gfn, p.gfn);
	CHECK_EQ(p.m->mt_used, 1);
	CHECK_EQ(p.m->mt[r.handle].ref, 8);
	CHECK_EQ(p.m->mt[r.handle].dom, p.g->id);
	CHECK_EQ(p.m->mt[r.handle].host_addr, 0x7000);
	gnt_core_stats(p.c, &st);
	CHECK_EQ(st.mappings, 1);
	CHECK_EQ(st.exposures, 1);
	CHECK_EQ(st.pins, 1); /* Xen's count: the mapping; the exposure's is apart */
	CHECK_EQ(p.g->ext_pins - p.g->expo_pins, st.pins);
	CHECK_EQ(u->refs, 2); /* p2m + exposure */
	/* the granter cannot revoke what is in use (the guest's cmpxchg sees
	 * GTF_reading); nothing else in the table changed */
	CHECK_EQ(gnt_core_entries_in_use(p.g), 1);
	CHECK_EQ(fx_flags(p.g, 9), 0);

	CHECK_EQ(fx_unmap(p.c, p.m, r.handle, 0x7000, 0), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access | GTF_readonly);
	a = gnt_core_active(p.g, 8);
	CHECK_EQ(a->rd, 0);
	CHECK_EQ(a->wr, 0);
	CHECK_EQ(a->unit, GNT_NO_UNIT);
	CHECK_EQ(p.m->mt_used, 0);
	CHECK_EQ(p.g->ext_pins, 0);
	CHECK_EQ(u->refs, 1);
	gnt_core_stats(p.c, &st);
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.exposures, 0);
	CHECK_EQ(st.pins, 0);
	fx_destroy(p.c);
}

TEST(map_rw_sets_writing)
{
	struct pair p = pair();
	const struct gnt_active *a = &p.g->active[8];
	grant_handle_t h;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access | GTF_reading | GTF_writing);
	CHECK(a->wr > 0);
	CHECK_EQ(a->rd, 0);
	CHECK_EQ(p.m->mt[h].flags, GNTMAP_host_map);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access);
	CHECK_EQ(fx_pins(p.g, 8), 0);
	/* RO map of a writable grant: reading only */
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access | GTF_reading);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), GTF_permit_access);
	fx_destroy(p.c);
}

TEST(map_multiple_handles_one_ref)
{
	struct pair p = pair();
	grant_handle_t h[4];
	uint32_t pins1, pins;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h[0]), GNTST_okay);
	pins1 = fx_pins(p.g, 8);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h[1]), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &h[2]), GNTST_okay);
	/* each further handle of the same kind adds exactly one pin */
	CHECK_EQ(fx_pins(p.g, 8), pins1 + 2);
	CHECK(h[0] != h[1] && h[1] != h[2] && h[0] != h[2]);
	CHECK_EQ(p.m->mt_used, 3);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading);
	{
		struct gnt_core_stats st;
		gnt_core_stats(p.c, &st);
		CHECK_EQ(st.exposures, 1); /* one per (unit, mapper, access) */
		CHECK_EQ(st.mappings, 3);
	}
	/* unmapping in any order keeps the entry busy until the last */
	CHECK_EQ(fx_unmap(p.c, p.m, h[1], 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading);
	CHECK_EQ(fx_unmap(p.c, p.m, h[0], 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading);
	pins = fx_pins(p.g, 8);
	CHECK(pins > 0);
	CHECK_EQ(fx_unmap(p.c, p.m, h[2], 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_pins(p.g, 8), 0);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}

TEST(map_writing_cleared_when_last_writer_goes)
{
	struct pair p = pair();
	const struct gnt_active *a = &p.g->active[8];
	grant_handle_t r1, w1, w2;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &r1), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &w1), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &w2), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK(a->rd > 0 && a->wr > 0);
	{
		struct gnt_core_stats st;
		gnt_core_stats(p.c, &st);
		CHECK_EQ(st.exposures, 2); /* read-only and writable */
	}
	CHECK_EQ(fx_unmap(p.c, p.m, w1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(p.c, p.m, w2, 0, 0), GNTST_okay);
	/* last writer gone: GTF_writing cleared, readers keep GTF_reading */
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading);
	CHECK_EQ(a->wr, 0);
	CHECK(a->rd > 0);
	CHECK_EQ(fx_unmap(p.c, p.m, r1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	/* and the other way round: readers go first, the writer keeps both bits */
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &w1), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &r1), GNTST_okay);
	CHECK_EQ(fx_unmap(p.c, p.m, r1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(p.c, p.m, w1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	fx_destroy(p.c);
}

TEST(map_device_map_dev_bus_addr)
{
	struct pair p = pair();
	uint64_t gfn = fx_alloc(p.c, p.g, 1); /* not the core's first unit */
	struct fx_map r1, r2, r3;

	fx_grant(p.g, 8, p.m->id, gfn, GTF_permit_access);
	r1 = fx_map_op(p.c, p.m, p.g->id, 8, GNTMAP_device_map | GNTMAP_readonly, 0);
	CHECK_EQ(r1.status, GNTST_okay);
	CHECK(r1.dev_bus_addr != 0);
	CHECK_EQ(r1.dev_bus_addr % GNT_PAGE_SIZE, 0);
	r2 = fx_map_op(p.c, p.m, p.g->id, 8, GNTMAP_device_map | GNTMAP_host_map | GNTMAP_readonly,
		       0x9000);
	CHECK_EQ(r2.status, GNTST_okay);
	CHECK_EQ(r2.dev_bus_addr, r1.dev_bus_addr); /* same frame */
	/* another frame, another address */
	fx_grant(p.g, 9, p.m->id, p.gfn, GTF_permit_access);
	r3 = fx_map_op(p.c, p.m, p.g->id, 9, GNTMAP_device_map, 0);
	CHECK_EQ(r3.status, GNTST_okay);
	CHECK(r3.dev_bus_addr != r1.dev_bus_addr);
	CHECK_EQ(fx_unmap(p.c, p.m, r1.handle, 0, r1.dev_bus_addr), GNTST_okay);
	CHECK_EQ(fx_unmap(p.c, p.m, r2.handle, 0x9000, r2.dev_bus_addr), GNTST_okay);
	CHECK_EQ(fx_unmap(p.c, p.m, r3.handle, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_busy(p.g, 9), 0);
	fx_destroy(p.c);
}

/* dev_bus_addr 0 means "ignore" in unmap, so a device mapping must never be
 * given 0, or unmap can never check it.  The first unit's first page is the
 * case to look at. */
TEST(map_device_map_dev_bus_addr_never_zero)
{
	struct pair p = pair();
	struct gnt_unit *u = gnt_core_unit_of_gfn(p.g, p.gfn, NULL);
	struct fx_map r;

	CHECK_EQ(u->id, 0);
	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	r = fx_map_op(p.c, p.m, p.g->id, 8, GNTMAP_device_map, 0);
	CHECK_EQ(r.status, GNTST_okay);
	if (r.dev_bus_addr == 0)
		FAIL("device_map of unit 0, page 0 returned dev_bus_addr 0 (= 'ignore' in unmap)");
	CHECK_EQ(fx_unmap(p.c, p.m, r.handle, 0, r.dev_bus_addr + GNT_PAGE_SIZE),
		 GNTST_bad_dev_addr);
	CHECK_EQ(fx_unmap(p.c, p.m, r.handle, 0, r.dev_bus_addr), GNTST_okay);
	fx_destroy(p.c);
}

TEST(map_batch_elements_independent)
{
	struct pair p = pair();
	struct gnttab_map_grant_ref ops[4] = {
	    {.flags = FX_RO, .ref = 8, .dom = p.g->id},
	    {.flags = FX_RO, .ref = 9, .dom = p.g->id}, /* empty entry */
	    {.flags = FX_RO, .ref = 8, .dom = 0x1234},	/* no such domain */
	    {.flags = FX_RW, .ref = 8, .dom = p.g->id},
	};
	struct gnt_unit *units[4];
	uint32_t pages[4];

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(gnt_core_map(p.c, p.m, ops, 4, units, pages), 0);
	CHECK_EQ(ops[0].status, GNTST_okay);
	CHECK_EQ(ops[1].status, GNTST_general_error);
	CHECK_EQ(ops[2].status, GNTST_bad_domain);
	CHECK_EQ(ops[3].status, GNTST_okay);
	CHECK(units[0] == gnt_core_unit_of_gfn(p.g, p.gfn, NULL));
	CHECK(units[1] == NULL);
	CHECK(units[2] == NULL);
	CHECK(units[3] == units[0]);
	CHECK_EQ(ops[1].handle, UINT32_MAX);
	CHECK_EQ(ops[2].handle, UINT32_MAX);
	CHECK(ops[0].handle != ops[3].handle);
	CHECK_EQ(p.m->mt_used, 2);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	{
		struct gnttab_unmap_grant_ref u[3] = {
		    {.handle = ops[0].handle},
		    {.handle = ops[0].handle}, /* twice in one batch */
		    {.handle = ops[3].handle},
		};
		CHECK_EQ(gnt_core_unmap(p.c, p.m, u, 3), 0);
		CHECK_EQ(u[0].status, GNTST_okay);
		CHECK_EQ(u[1].status, GNTST_bad_handle);
		CHECK_EQ(u[2].status, GNTST_okay);
	}
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}

TEST(map_handles_reused_after_unmap)
{
	struct pair p = pair();
	grant_handle_t a, b, c2;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &a), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &b), GNTST_okay);
	CHECK_EQ(fx_unmap(p.c, p.m, a, 0, 0), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RO, &c2), GNTST_okay);
	CHECK_EQ(c2, a);
	CHECK_EQ(p.m->mt_used, 2);
	fx_destroy(p.c);
}

TEST(map_reserved_ref_when_granted)
{
	struct pair p = pair();
	grant_handle_t h;

	/* refs 0..7 are reserved for the toolstack but mappable when filled
	 * (xenstored maps ref 1, GNTTAB_RESERVED_XENSTORE) */
	fx_grant(p.g, GNTTAB_RESERVED_XENSTORE, p.m->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, GNTTAB_RESERVED_XENSTORE, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, GNTTAB_RESERVED_XENSTORE), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, GNTTAB_RESERVED_XENSTORE), 0);
	fx_destroy(p.c);
}

TEST(map_keeps_guest_flag_bits)
{
	struct pair p = pair();
	uint16_t fl = GTF_permit_access | GTF_PWT | GTF_PCD | GTF_PAT;
	grant_handle_t h;

	fx_grant(p.g, 8, p.m->id, p.gfn, fl);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), fl | GTF_reading | GTF_writing);
	CHECK_EQ(p.g->table[8].domid, p.m->id);
	CHECK_EQ(p.g->table[8].frame, (uint32_t)p.gfn);
	CHECK_EQ(fx_unmap(p.c, p.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_flags(p.g, 8), fl);
	CHECK_EQ(p.g->table[8].domid, p.m->id);
	CHECK_EQ(p.g->table[8].frame, (uint32_t)p.gfn);
	fx_destroy(p.c);
}

TEST(map_data_is_the_granters_page)
{
	struct pair p = pair();
	struct fx_map r;

	fx_mem(p.g, p.gfn)[17] = 0x42;
	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	r = fx_map_op(p.c, p.m, p.g->id, 8, FX_RW, 0);
	CHECK_EQ(r.status, GNTST_okay);
	CHECK_EQ(fake_page(r.unit, r.page)[17], 0x42);
	fake_page(r.unit, r.page)[18] = 0x43;
	CHECK_EQ(fx_mem(p.g, p.gfn)[18], 0x43);
	CHECK_EQ(fx_unmap(p.c, p.m, r.handle, 0, 0), GNTST_okay);
	fx_destroy(p.c);
}

TEST(map_from_two_granters)
{
	struct pair p = pair();
	struct gnt_domain *g2 = fx_dom(p.c, "granter2");
	uint64_t gfn2 = fx_alloc(p.c, g2, 1);
	grant_handle_t h1, h2;

	fx_grant(p.g, 8, p.m->id, p.gfn, GTF_permit_access);
	fx_grant(g2, 8, p.m->id, gfn2, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.m, p.g->id, 8, FX_RW, &h1), GNTST_okay);
	CHECK_EQ(fx_map(p.c, p.m, g2->id, 8, FX_RO, &h2), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(fx_busy(g2, 8), GTF_reading);
	CHECK_EQ(fx_unmap(p.c, p.m, h1, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(fx_busy(g2, 8), GTF_reading);
	CHECK_EQ(fx_unmap(p.c, p.m, h2, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(g2, 8), 0);
	fx_destroy(p.c);
}

TEST(map_own_grant)
{
	struct pair p = pair();
	grant_handle_t h;

	/* a domain may map a grant it made to itself (loopback back ends) */
	fx_grant(p.g, 8, p.g->id, p.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(p.c, p.g, p.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(p.c, p.g, h, 0, 0), GNTST_okay);
	CHECK_EQ(fx_busy(p.g, 8), 0);
	CHECK_EQ(p.g->ext_pins, 0);
	fx_destroy(p.c);
}
