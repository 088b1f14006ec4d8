/* SPDX-License-Identifier: MIT */
/* tests/unit/test_memory.c - XENMEM populate/decrease: units, p2m, limits. */
#include <errno.h>

#include "fixture.h"

static long populate(struct gnt_core *c, struct gnt_domain *d, uint64_t nr, uint32_t order,
		     uint32_t flags, uint64_t *gfns, struct gnt_unit **first)
{
	struct xen_memory_reservation r = {
	    .nr_extents = nr,
	    .extent_order = order,
	    .mem_flags = flags,
	    .domid = DOMID_SELF,
	};
	return gnt_core_populate(c, d, &r, gfns, first);
}

static long decrease(struct gnt_core *c, struct gnt_domain *d, uint64_t nr, uint32_t order,
		     uint32_t flags, const uint64_t *gfns)
{
	struct xen_memory_reservation r = {
	    .nr_extents = nr,
	    .extent_order = order,
	    .mem_flags = flags,
	    .domid = DOMID_SELF,
	};
	return gnt_core_decrease(c, d, &r, gfns);
}

TEST(populate_one_unit)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t gfns[4] = {0};
	struct gnt_unit *u = NULL;
	struct gnt_core_stats st;
	uint32_t page;

	CHECK_EQ(populate(c, d, 4, 0, GNT_MEMF_one_unit, gfns, &u), 4);
	CHECK(u != NULL);
	CHECK_EQ(u->npages, 4);
	CHECK_EQ(u->owner, d->id);
	CHECK(u->in_p2m);
	CHECK_EQ(u->base_gfn, gfns[0]);
	CHECK(gnt_core_unit(c, u->id) == u);
	for (uint32_t i = 0; i < 4; i++) {
		CHECK_EQ(gfns[i], gfns[0] + i);
		CHECK(gnt_core_unit_of_gfn(d, gfns[i], &page) == u);
		CHECK_EQ(page, i);
	}
	/* nothing either side of the unit */
	CHECK(gnt_core_unit_of_gfn(d, gfns[0] - 1, NULL) == NULL);
	CHECK(gnt_core_unit_of_gfn(d, gfns[3] + 1, NULL) == NULL);
	CHECK_EQ(d->tot_pages, 4);
	CHECK_EQ(d->p2m_len, 1);
	CHECK_EQ(fk.units_live, 1);
	CHECK_EQ(fk.pages_live, 4);
	gnt_core_stats(c, &st);
	CHECK_EQ(st.units, 1);
	CHECK_EQ(st.frames, 4);
	/* the fake backing is what the unit points at: pages are distinct */
	fake_page(u, 0)[0] = 1;
	fake_page(u, 3)[GNT_PAGE_SIZE - 1] = 2;
	CHECK_EQ(fx_mem(d, gfns[0])[0], 1);
	CHECK_EQ(fx_mem(d, gfns[3])[GNT_PAGE_SIZE - 1], 2);
	/* extents of order 1 in one unit: gfns step by 2 */
	CHECK_EQ(populate(c, d, 3, 1, GNT_MEMF_one_unit, gfns, &u), 3);
	CHECK_EQ(u->npages, 6);
	CHECK_EQ(gfns[1], gfns[0] + 2);
	CHECK_EQ(gfns[2], gfns[0] + 4);
	CHECK_EQ(d->tot_pages, 10);
	CHECK_EQ(fk.units_live, 2);
	fx_destroy(c);
}

TEST(populate_separate_extents)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t gfns[3];
	struct gnt_unit *first = NULL, *u;
	uint32_t page;

	CHECK_EQ(populate(c, d, 3, 1, 0, gfns, &first), 3);
	CHECK(first != NULL);
	CHECK_EQ(fk.units_live, 3);
	CHECK_EQ(fk.pages_live, 6);
	CHECK_EQ(d->tot_pages, 6);
	CHECK_EQ(d->p2m_len, 3);
	CHECK(gnt_core_unit_of_gfn(d, gfns[0], NULL) == first);
	for (int i = 0; i < 3; i++) {
		u = gnt_core_unit_of_gfn(d, gfns[i] + 1, &page);
		CHECK(u != NULL);
		CHECK_EQ(u->npages, 2);
		CHECK_EQ(u->base_gfn, gfns[i]);
		CHECK_EQ(page, 1);
		if (i)
			CHECK(u != gnt_core_unit_of_gfn(d, gfns[i - 1], NULL));
	}
	/* gfns are handed out in increasing order, never reused */
	CHECK(gfns[0] < gfns[1] && gfns[1] < gfns[2]);
	fx_destroy(c);
}

TEST(populate_zero_and_bad_args)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a"), *e = fx_dom(c, "b");
	struct xen_memory_reservation r = {.nr_extents = 1, .domid = DOMID_SELF};
	uint64_t gfns[2];
	struct gnt_unit *u = (void *)&r;

	CHECK_EQ(populate(c, d, 0, 0, 0, gfns, &u), 0);
	CHECK(u == NULL);
	CHECK_EQ(populate(c, d, 0, 0, GNT_MEMF_one_unit, gfns, &u), 0);
	CHECK_EQ(populate(c, d, 1, 19, 0, gfns, &u), -EINVAL);
	CHECK_EQ(populate(c, d, 1, 0, 1, gfns, &u), -EINVAL); /* XENMEMF_address_bits */
	CHECK_EQ(populate(c, d, ((uint64_t)1 << 20) + 1, 0, 0, gfns, &u), -EINVAL);
	/* 2^20 extents of 2^18 pages in one unit: more pages than a unit holds */
	CHECK(populate(c, d, (uint64_t)1 << 20, 18, GNT_MEMF_one_unit, gfns, &u) < 0);
	CHECK(u == NULL);
	CHECK_EQ(fk.units_total, 0);
	/* another domain's memory: -EPERM; own id is the same as DOMID_SELF */
	r.domid = e->id;
	CHECK_EQ(gnt_core_populate(c, d, &r, gfns, &u), -EPERM);
	r.domid = d->id;
	CHECK_EQ(gnt_core_populate(c, d, &r, gfns, &u), 1);
	CHECK_EQ(d->tot_pages, 1);
	CHECK_EQ(e->tot_pages, 0);
	CHECK_EQ(fk.units_live, 1);
	fx_destroy(c);
}

TEST(populate_respects_max_pages)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom_lim(c, "a", 1, 1, 5);
	uint64_t gfns[8];
	struct gnt_unit *u;
	struct fx_snap s;

	/* one unit bigger than the limit: -ENOMEM, nothing allocated */
	fx_snap(c, &s);
	CHECK_EQ(populate(c, d, 6, 0, GNT_MEMF_one_unit, gfns, &u), -ENOMEM);
	CHECK(u == NULL);
	CHECK(fx_snap_same(c, &s));
	CHECK_EQ(fk.units_total, 0);
	/* separate extents: a partial count */
	CHECK_EQ(populate(c, d, 8, 0, 0, gfns, &u), 5);
	CHECK_EQ(d->tot_pages, 5);
	CHECK_EQ(fk.units_live, 5);
	/* full: none more */
	fx_snap(c, &s);
	CHECK_EQ(populate(c, d, 1, 0, 0, gfns, &u), 0);
	CHECK(u == NULL);
	CHECK_EQ(populate(c, d, 1, 0, GNT_MEMF_one_unit, gfns, &u), -ENOMEM);
	CHECK(fx_snap_same(c, &s));
	/* an extent of order 1 does not fit in the last page either */
	CHECK_EQ(decrease(c, d, 1, 0, 0, &gfns[4]), 1);
	CHECK_EQ(populate(c, d, 1, 1, 0, gfns, &u), 0);
	CHECK_EQ(populate(c, d, 1, 0, 0, gfns, &u), 1);
	CHECK_EQ(d->tot_pages, 5);
	fx_destroy(c);
}

TEST(populate_unit_alloc_failure)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t gfns[4];
	struct gnt_unit *u;

	/* the 3rd unit cannot be backed: two extents done */
	fk.fail_unit_alloc_at = 3;
	CHECK_EQ(populate(c, d, 4, 0, 0, gfns, &u), 2);
	CHECK_EQ(d->tot_pages, 2);
	CHECK_EQ(fk.units_live, 2);
	fk.fail_unit_alloc_at = fk.units_total + 1;
	CHECK_EQ(populate(c, d, 2, 0, GNT_MEMF_one_unit, gfns, &u), -ENOMEM);
	CHECK_EQ(d->tot_pages, 2);
	CHECK_EQ(d->p2m_len, 2);
	fx_destroy(c);
}

TEST(decrease_whole_units)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t sep[3], one[2], g;
	struct gnt_unit *u;
	struct fx_snap s;

	CHECK_EQ(populate(c, d, 3, 1, 0, sep, &u), 3);		       /* 3 units of 2 */
	CHECK_EQ(populate(c, d, 2, 1, GNT_MEMF_one_unit, one, &u), 2); /* 1 unit of 4 */
	CHECK_EQ(d->tot_pages, 10);
	CHECK_EQ(fk.units_live, 4);

	/* refused, nothing freed: not a unit's first gfn, wrong order, unknown gfn */
	fx_snap(c, &s);
	g = sep[0] + 1;
	CHECK_EQ(decrease(c, d, 1, 1, 0, &g), 0);
	CHECK_EQ(decrease(c, d, 1, 0, 0, &sep[0]), 0);
	CHECK_EQ(decrease(c, d, 1, 2, 0, &sep[0]), 0);
	CHECK_EQ(decrease(c, d, 1, 1, 0, &one[0]), 0); /* a 4-page unit, order 1 */
	g = 0x10;
	CHECK_EQ(decrease(c, d, 1, 0, 0, &g), 0);
	CHECK_EQ(decrease(c, d, 1, 19, 0, &sep[0]), -EINVAL);
	CHECK_EQ(decrease(c, d, 1, 1, 4, &sep[0]), -EINVAL);
	CHECK(fx_snap_same(c, &s));

	/* the middle extent */
	CHECK_EQ(decrease(c, d, 1, 1, 0, &sep[1]), 1);
	CHECK_EQ(fk.units_live, 3);
	CHECK_EQ(d->tot_pages, 8);
	CHECK(gnt_core_unit_of_gfn(d, sep[1], NULL) == NULL);
	CHECK(gnt_core_unit_of_gfn(d, sep[0], NULL) != NULL);
	CHECK(gnt_core_unit_of_gfn(d, sep[2] + 1, NULL) != NULL);
	/* twice: gone already */
	CHECK_EQ(decrease(c, d, 1, 1, 0, &sep[1]), 0);
	/* with GNT_MEMF_one_unit the unit's size is whatever it is */
	CHECK_EQ(decrease(c, d, 1, 0, GNT_MEMF_one_unit, &one[0]), 1);
	CHECK_EQ(fk.units_live, 2);
	CHECK_EQ(d->tot_pages, 4);
	/* a batch stops at the first bad gfn and says how many were done */
	{
		uint64_t batch[3] = {sep[0], 0x10, sep[2]};
		CHECK_EQ(decrease(c, d, 3, 1, 0, batch), 1);
	}
	CHECK_EQ(fk.units_live, 1);
	CHECK(gnt_core_unit_of_gfn(d, sep[2], NULL) != NULL);
	/* another domain's memory: -EPERM */
	{
		struct gnt_domain *e = fx_dom(c, "b");
		struct xen_memory_reservation r = {
		    .nr_extents = 1, .extent_order = 1, .domid = e->id};
		CHECK_EQ(gnt_core_decrease(c, d, &r, &sep[2]), -EPERM);
		r.domid = d->id;
		CHECK_EQ(gnt_core_decrease(c, d, &r, &sep[2]), 1);
	}
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(d->tot_pages, 0);
	CHECK_EQ(d->p2m_len, 0);
	/* the memory can be populated again, at new gfns */
	g = fx_alloc(c, d, 2);
	CHECK(g > one[1]);
	fx_destroy(c);
}

TEST(decrease_exposed_unit_lives_until_unmapped)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "granter"), *m = fx_dom(c, "mapper");
	uint64_t gfn = fx_alloc(c, g, 1);
	struct gnt_unit *u = gnt_core_unit_of_gfn(g, gfn, NULL);
	uint32_t uid = u->id;
	struct fx_map r;

	memset(fx_mem(g, gfn), 0xab, GNT_PAGE_SIZE);
	fx_grant(g, 8, m->id, gfn, GTF_permit_access);
	r = fx_map_op(c, m, g->id, 8, FX_RW, 0);
	CHECK_EQ(r.status, GNTST_okay);
	CHECK(r.unit == u);
	CHECK_EQ(decrease(c, g, 1, 0, 0, &gfn), 1);
	/* gone from the granter's memory, alive for the mapper */
	CHECK(gnt_core_unit_of_gfn(g, gfn, NULL) == NULL);
	CHECK_EQ(g->p2m_len, 0);
	CHECK(gnt_core_unit(c, uid) == u);
	CHECK(!u->in_p2m);
	CHECK_EQ(fk.units_live, 1);
	CHECK_EQ(fake_page(u, 0)[100], 0xab);
	fake_page(u, 0)[100] = 0xcd; /* the mapper still writes it */
	/* the pin still holds and names the latched unit */
	CHECK_EQ(fx_busy(g, 8), GTF_reading | GTF_writing);
	CHECK_EQ(gnt_core_active(g, 8)->unit, uid);
	/* a second map of the pinned ref uses the latched unit */
	{
		struct fx_map r2 = fx_map_op(c, m, g->id, 8, FX_RO, 0);
		CHECK_EQ(r2.status, GNTST_okay);
		CHECK(r2.unit == u);
		CHECK_EQ(fx_unmap(c, m, r2.handle, 0, 0), GNTST_okay);
	}
	/* a fresh pin of another ref on the removed gfn: bad_page */
	fx_grant(g, 9, m->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, g->id, 9, FX_RO, NULL), GNTST_bad_page);
	CHECK_EQ(fx_unmap(c, m, r.handle, 0, 0), GNTST_okay);
	CHECK(gnt_core_unit(c, uid) == NULL);
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fx_busy(g, 8), 0);
	{
		struct gnt_core_stats st;
		gnt_core_stats(c, &st);
		CHECK_EQ(st.units, 0);
		CHECK_EQ(st.mappings, 0);
		CHECK_EQ(st.pins, 0);
		CHECK_EQ(st.exposures, 0);
	}
	fx_destroy(c);
}

/* Xen charges a page to its domain until the page is freed: a page removed
 * from the p2m but still mapped by another domain still counts in tot_pages
 * (free_domheap_pages adjusts it).  So decrease + populate cannot make a
 * domain hold more than max_pages of memory with a mapper's help. */
TEST(decrease_exposed_unit_still_counts_against_max_pages)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom_lim(c, "granter", 1, 1, 2), *m = fx_dom(c, "mapper");
	uint64_t base = fx_alloc(c, g, 2), gfns[2];
	struct gnt_unit *u;
	grant_handle_t h;

	fx_grant(g, 8, m->id, base, GTF_permit_access);
	fx_grant(g, 9, m->id, base + 1, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(decrease(c, g, 1, 0, GNT_MEMF_one_unit, &base), 1);
	CHECK_EQ(fk.pages_live, 2); /* the unit lives on for the mapper */
	/* the granter's 2 pages are still in use: no room for more */
	if (populate(c, g, 2, 0, GNT_MEMF_one_unit, gfns, &u) == 2)
		FAIL("max_pages 2, but the granter now holds %ld pages of memory", fk.pages_live);
	CHECK_EQ(fk.pages_live, 2);
	/* once unmapped, the memory is free and can be populated again */
	CHECK_EQ(fx_unmap(c, m, h, 0, 0), GNTST_okay);
	CHECK_EQ(fk.pages_live, 0);
	CHECK_EQ(populate(c, g, 2, 0, GNT_MEMF_one_unit, gfns, &u), 2);
	fx_destroy(c);
}
