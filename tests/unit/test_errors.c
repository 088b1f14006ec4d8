/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_errors.c - every GNTST_* error of map and unmap, with its
 * exact code, and that a failed element changes nothing: no pin, no flag, no
 * handle, no exposure (the whole observable state is compared).
 */
#include "fixture.h"

struct env {
	struct gnt_core *c;
	struct gnt_domain *g, *m, *x; /* granter, mapper, third party */
	uint64_t gfn, gfn2;	      /* one-page units of g */
	grant_handle_t live;	      /* m's mapping of g's ref 10, so state is not empty */
};

static struct env env(void)
{
	struct env e;

	e.c = fx_core();
	e.g = fx_dom(e.c, "granter");
	e.m = fx_dom(e.c, "mapper");
	e.x = fx_dom(e.c, "other");
	e.gfn = fx_alloc(e.c, e.g, 1);
	e.gfn2 = fx_alloc(e.c, e.g, 1);
	fx_grant(e.g, 10, e.m->id, e.gfn2, GTF_permit_access);
	if (fx_map(e.c, e.m, e.g->id, 10, FX_RW, &e.live) != GNTST_okay)
		FAIL("env: baseline map failed");
	return e;
}

/* Map must fail with `want` and leave everything as it was. */
static void map_fails(struct env *e, struct gnt_domain *self, uint32_t dom, grant_ref_t ref,
		      uint32_t flags, int16_t want, int line)
{
	struct fx_snap s;
	struct fx_map r;

	fx_snap(e->c, &s);
	r = fx_map_op(e->c, self, dom, ref, flags, 0x1000);
	if (r.status != want)
		gnt__test_fail(__FILE__, line, "map d%u ref %u flags %#x: status %d, expected %d",
			       dom, ref, flags, r.status, want);
	if (!fx_snap_same(e->c, &s))
		gnt__test_fail(__FILE__, line, "failed map (status %d) changed state", want);
}
#define MAP_FAILS(e, self, dom, ref, flags, want)                                                  \
	map_fails((e), (self), (dom), (ref), (flags), (want), __LINE__)

static void unmap_fails(struct env *e, struct gnt_domain *self, grant_handle_t h,
			uint64_t host_addr, uint64_t dev, int16_t want, int line)
{
	struct fx_snap s;
	int16_t st;

	fx_snap(e->c, &s);
	st = fx_unmap(e->c, self, h, host_addr, dev);
	if (st != want)
		gnt__test_fail(__FILE__, line, "unmap handle %u: status %d, expected %d", h, st,
			       want);
	if (!fx_snap_same(e->c, &s))
		gnt__test_fail(__FILE__, line, "failed unmap (status %d) changed state", want);
}
#define UNMAP_FAILS(e, self, h, ha, dev, want)                                                     \
	unmap_fails((e), (self), (h), (ha), (dev), (want), __LINE__)

TEST(map_err_no_host_or_device_flag)
{
	struct env e = env();

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, 0, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, 8, GNTMAP_readonly, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, 8, GNTMAP_readonly | GNTMAP_guest_avail_mask, GNTST_bad_gntref);
	/* checked first: even with a bad domain and a bad ref */
	MAP_FAILS(&e, e.m, 0x1234, 99999, GNTMAP_readonly, GNTST_bad_gntref);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	fx_destroy(e.c);
}

TEST(map_err_contains_pte)
{
	struct env e = env();

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO | GNTMAP_contains_pte, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW | GNTMAP_contains_pte, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, GNTMAP_device_map | GNTMAP_contains_pte,
		  GNTST_general_error);
	MAP_FAILS(&e, e.m, 0x1234, 8, FX_RO | GNTMAP_contains_pte, GNTST_general_error);
	fx_destroy(e.c);
}

TEST(map_err_application_map)
{
	struct env e = env();

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO | GNTMAP_application_map, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW | GNTMAP_application_map, GNTST_general_error);
	MAP_FAILS(&e, e.m, 0x1234, 8, FX_RO | GNTMAP_application_map, GNTST_general_error);
	fx_destroy(e.c);
}

TEST(map_err_unknown_domain)
{
	struct env e = env();
	static const uint32_t bad[] = {0x1234,	  GNT_MAX_DOMID, DOMID_IO,  DOMID_XEN,
				       DOMID_COW, DOMID_INVALID, DOMID_IDLE};

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		MAP_FAILS(&e, e.m, bad[i], 8, FX_RO, GNTST_bad_domain);
		MAP_FAILS(&e, e.m, bad[i], 8, FX_RW, GNTST_bad_domain);
	}
	/* a domain that was released and freed is unknown too */
	{
		uint16_t id = e.x->id;
		gnt__core_domain_release(e.c, e.x);
		MAP_FAILS(&e, e.m, id, 8, FX_RO, GNTST_bad_domain);
	}
	fx_destroy(e.c);
}

TEST(map_err_domid_self)
{
	struct env e = env();

	/* even for a grant the caller made to itself: map names real domains */
	fx_grant(e.m, 8, e.m->id, fx_alloc(e.c, e.m, 1), GTF_permit_access);
	MAP_FAILS(&e, e.m, DOMID_SELF, 8, FX_RO, GNTST_bad_domain);
	MAP_FAILS(&e, e.m, DOMID_SELF, 8, FX_RW, GNTST_bad_domain);
	CHECK_EQ(fx_busy(e.m, 8), 0);
	fx_destroy(e.c);
}

TEST(map_err_ref_beyond_nr_entries)
{
	struct env e = env();
	uint64_t frames[2];
	struct gnttab_setup_table st = {.dom = DOMID_SELF, .nr_frames = 2};

	/* nr_frames is 1: refs 512.. are outside the table even though the
	 * memory behind them exists and holds a valid-looking grant */
	CHECK_EQ(e.g->nr_frames, 1);
	fx_grant(e.g, 512, e.m->id, e.gfn, GTF_permit_access);
	fx_grant(e.g, 511, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 512, FX_RO, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, 1023, FX_RW, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, UINT32_MAX, FX_RO, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, 0x80000000u, FX_RO, GNTST_bad_gntref);
	CHECK_EQ(fx_busy(e.g, 512), 0);
	/* the last ref of the current size is fine */
	{
		grant_handle_t h;
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 511, FX_RO, &h), GNTST_okay);
		CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	}
	/* grow the table: 512 becomes valid, 1024 is still out */
	CHECK_EQ(gnt_core_setup_table(e.c, e.g, &st, frames), 0);
	CHECK_EQ(st.status, GNTST_okay);
	fx_grant(e.g, 1024, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 1024, FX_RO, GNTST_bad_gntref);
	{
		grant_handle_t h;
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 512, FX_RO, &h), GNTST_okay);
		CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	}
	fx_destroy(e.c);
}

TEST(map_err_reserved_refs_empty)
{
	struct env e = env();

	for (grant_ref_t r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++) {
		MAP_FAILS(&e, e.m, e.g->id, r, FX_RO, GNTST_general_error);
		MAP_FAILS(&e, e.m, e.g->id, r, FX_RW, GNTST_general_error);
	}
	/* an empty ordinary entry too */
	MAP_FAILS(&e, e.m, e.g->id, 9, FX_RO, GNTST_general_error);
	fx_destroy(e.c);
}

TEST(map_err_granted_to_other_domain)
{
	struct env e = env();

	fx_grant(e.g, 8, e.x->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_general_error);
	/* granted to the granter itself, mapped by someone else */
	fx_grant(e.g, 9, e.g->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 9, FX_RO, GNTST_general_error);
	/* granted to DOMID_SELF does not mean "the mapper" */
	fx_grant(e.g, 11, DOMID_SELF, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 11, FX_RO, GNTST_general_error);
	/* the entry still works for its grantee */
	{
		grant_handle_t h;
		CHECK_EQ(fx_map(e.c, e.x, e.g->id, 8, FX_RO, &h), GNTST_okay);
		/* pinned by x: m still cannot, even RO */
		MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
		CHECK_EQ(fx_unmap(e.c, e.x, h, 0, 0), GNTST_okay);
	}
	fx_destroy(e.c);
}

TEST(map_err_rw_of_readonly_grant)
{
	struct env e = env();
	grant_handle_t h;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access | GTF_readonly);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, GNTMAP_device_map, GNTST_general_error);
	/* while pinned read-only, a writable map is still refused */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_general_error);
	CHECK_EQ(fx_busy(e.g, 8), GTF_reading);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	fx_destroy(e.c);
}

TEST(map_err_entry_types)
{
	struct env e = env();

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_accept_transfer);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_general_error);
	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_transitive); /* v2 only */
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_invalid | GTF_reading);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	CHECK_EQ(fx_flags(e.g, 8), GTF_reading); /* the guest's own bits stay */
	fx_destroy(e.c);
}

TEST(map_err_frame_not_in_p2m)
{
	struct env e = env();
	uint64_t xgfn = fx_alloc(e.c, e.x, 8) + 7; /* gfns are per domain: g has 2 */

	/* unused low gfn, beyond the last populated gfn, and another domain's gfn */
	fx_grant(e.g, 8, e.m->id, 0, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_bad_page);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_bad_page);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access); /* flags restored */
	fx_grant(e.g, 8, e.m->id, e.g->next_gfn, GTF_permit_access | GTF_PCD);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_bad_page);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access | GTF_PCD);
	fx_grant(e.g, 8, e.m->id, xgfn, GTF_permit_access);
	CHECK(gnt_core_unit_of_gfn(e.g, xgfn, NULL) == NULL);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_bad_page);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	/* and a gfn that was decreased */
	{
		struct xen_memory_reservation r = {.nr_extents = 1, .domid = DOMID_SELF};
		CHECK_EQ(gnt_core_decrease(e.c, e.g, &r, &e.gfn), 1);
	}
	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_bad_page);
	CHECK_EQ(fx_flags(e.g, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(map_err_maptrack_full)
{
	struct env e = env();
	struct gnt_domain *b = fx_dom_lim(e.c, "small", 1, 1, 0); /* 256 handles */
	grant_handle_t h[256];
	uint32_t n;

	CHECK_EQ(b->mt_limit, 256);
	fx_grant(e.g, 8, b->id, e.gfn, GTF_permit_access);
	fx_grant(e.g, 9, b->id, e.gfn2, GTF_permit_access);
	fx_grant(e.g, 11, b->id, e.gfn2, GTF_permit_access);
	for (n = 0; n < 256; n++)
		CHECK_EQ(fx_map(e.c, b, e.g->id, n < 128 ? 8 : 9, FX_RO, &h[n]), GNTST_okay);
	CHECK_EQ(b->mt_used, 256);
	/* full: a pinned ref, a fresh ref, a writable map all fail the same */
	MAP_FAILS(&e, b, e.g->id, 8, FX_RO, GNTST_no_space);
	MAP_FAILS(&e, b, e.g->id, 11, FX_RO, GNTST_no_space);
	MAP_FAILS(&e, b, e.g->id, 9, FX_RW, GNTST_no_space);
	CHECK_EQ(fx_busy(e.g, 11), 0);
	/* the limit is per mapper: others map the same refs' neighbours fine */
	{
		grant_handle_t hm;
		fx_grant(e.g, 12, e.m->id, e.gfn2, GTF_permit_access);
		CHECK_EQ(fx_map(e.c, e.m, e.g->id, 12, FX_RO, &hm), GNTST_okay);
		CHECK_EQ(fx_unmap(e.c, e.m, hm, 0, 0), GNTST_okay);
	}
	/* one handle back, one map more, and it is that handle */
	CHECK_EQ(fx_unmap(e.c, b, h[77], 0, 0), GNTST_okay);
	{
		grant_handle_t again;
		CHECK_EQ(fx_map(e.c, b, e.g->id, 11, FX_RO, &again), GNTST_okay);
		CHECK_EQ(again, h[77]);
	}
	MAP_FAILS(&e, b, e.g->id, 11, FX_RO, GNTST_no_space);
	fx_destroy(e.c);
}

TEST(map_err_failed_maps_do_not_consume_maptrack)
{
	struct env e = env();
	struct gnt_domain *b = fx_dom_lim(e.c, "small", 1, 1, 0);
	uint32_t n;

	fx_grant(e.g, 8, b->id, e.gfn, GTF_permit_access);
	for (n = 0; n < 1000; n++) /* empty entry: fails after taking a handle */
		CHECK_EQ(fx_map(e.c, b, e.g->id, 9, FX_RO, NULL), GNTST_general_error);
	CHECK_EQ(b->mt_used, 0);
	/* two refs: Xen allows 128 pins per counter of one entry */
	fx_grant(e.g, 12, b->id, e.gfn, GTF_permit_access);
	for (n = 0; n < 256; n++)
		CHECK_EQ(fx_map(e.c, b, e.g->id, n < 128 ? 8 : 12, n & 1 ? FX_RO : FX_RW, NULL),
			 GNTST_okay);
	CHECK_EQ(fx_map(e.c, b, e.g->id, 8, FX_RO, NULL), GNTST_no_space);
	fx_destroy(e.c);
}

TEST(map_err_pin_overflow)
{
	struct env e = env();
	const struct gnt_active *a = &e.g->active[8];
	grant_handle_t h[256], spare;
	uint32_t n;
	struct fx_map r;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	for (n = 0; n < 256; n++) {
		r = fx_map_op(e.c, e.m, e.g->id, 8, FX_RO, 0);
		if (r.status != GNTST_okay)
			break;
		h[n] = r.handle;
	}
	CHECK(n < 256);
	CHECK_EQ(r.status, GNTST_general_error);
	/* Xen refuses a pin once a counter has bit 7 set: 128 mappings */
	CHECK_EQ(a->rd, 128);
	CHECK_EQ(n, 128);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	MAP_FAILS(&e, e.m, e.g->id, 8, GNTMAP_device_map | GNTMAP_readonly, GNTST_general_error);
	/* a copy needs a read pin too */
	{
		struct fx_snap s;
		struct gnttab_copy op = {
		    .source = {.u.ref = 8, .domid = e.g->id},
		    .dest = {.u.gmfn = fx_alloc(e.c, e.m, 1), .domid = DOMID_SELF},
		    .len = 8,
		    .flags = GNTCOPY_source_gref,
		};
		fx_snap(e.c, &s);
		CHECK_EQ(fx_copy(e.c, e.m, op), GNTST_general_error);
		CHECK(fx_snap_same(e.c, &s));
	}
	/* one back, one more */
	CHECK_EQ(fx_unmap(e.c, e.m, h[10], 0, 0), GNTST_okay);
	CHECK_EQ(a->rd, 127);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &spare), GNTST_okay);
	CHECK_EQ(a->rd, 128);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error);
	/* everything unmaps cleanly */
	h[10] = spare;
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(fx_unmap(e.c, e.m, h[i], 0, 0), GNTST_okay);
	CHECK_EQ(a->rd, 0);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	fx_destroy(e.c);
}

TEST(map_err_write_pin_overflow)
{
	struct env e = env();
	const struct gnt_active *a = &e.g->active[8];
	uint32_t n;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	for (n = 0; n < 256; n++)
		if (fx_map(e.c, e.m, e.g->id, 8, FX_RW, NULL) != GNTST_okay)
			break;
	CHECK_EQ(a->wr, 128);
	CHECK_EQ(n, 128);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RW, GNTST_general_error);
	fx_destroy(e.c);
}

TEST(map_err_dying_granter)
{
	struct env e = env();
	uint16_t gid = e.g->id;
	grant_handle_t h;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	fx_grant(e.g, 9, e.m->id, e.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, gid, 8, FX_RO, &h), GNTST_okay);
	gnt__core_domain_release(e.c, e.g); /* zombie: m maps 8 and 10 */
	CHECK(gnt_core_domain(e.c, gid) == e.g);
	CHECK_EQ(e.g->state, GNT_DOM_DYING);
	/* no new pins: not on a fresh ref, not on the pinned ones */
	MAP_FAILS(&e, e.m, gid, 9, FX_RO, GNTST_general_error);
	MAP_FAILS(&e, e.m, gid, 8, FX_RO, GNTST_general_error);
	MAP_FAILS(&e, e.m, gid, 8, FX_RW, GNTST_general_error);
	MAP_FAILS(&e, e.x, gid, 8, FX_RO, GNTST_general_error);
	/* but a bad ref on a zombie is not looked at */
	MAP_FAILS(&e, e.m, gid, 99999, FX_RO, GNTST_general_error);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	CHECK(gnt_core_domain(e.c, gid) == e.g); /* still ref 10 */
	CHECK_EQ(fx_unmap(e.c, e.m, e.live, 0, 0), GNTST_okay);
	CHECK(gnt_core_domain(e.c, gid) == NULL);
	fx_destroy(e.c);
}

TEST(map_err_precedence)
{
	struct env e = env();
	struct gnt_domain *b = fx_dom_lim(e.c, "small", 1, 1, 0);
	uint32_t n;

	/* Xen's order: map flags, PV-only flags, domain, maptrack, ref, entry */
	fx_grant(e.g, 8, b->id, e.gfn, GTF_permit_access);
	fx_grant(e.g, 12, b->id, e.gfn, GTF_permit_access);
	for (n = 0; n < 256; n++)
		CHECK_EQ(fx_map(e.c, b, e.g->id, n < 128 ? 8 : 12, n < 128 ? FX_RO : FX_RW, NULL),
			 GNTST_okay);
	MAP_FAILS(&e, b, 0x1234, 99999, GNTMAP_readonly, GNTST_bad_gntref);
	MAP_FAILS(&e, b, 0x1234, 99999, FX_RO | GNTMAP_contains_pte, GNTST_general_error);
	MAP_FAILS(&e, b, 0x1234, 99999, FX_RO, GNTST_bad_domain);
	MAP_FAILS(&e, b, e.g->id, 99999, FX_RO, GNTST_no_space);
	MAP_FAILS(&e, e.m, e.g->id, 99999, FX_RO, GNTST_bad_gntref);
	MAP_FAILS(&e, e.m, e.g->id, 8, FX_RO, GNTST_general_error); /* b's grant */
	fx_destroy(e.c);
}

TEST(unmap_err_bad_handle)
{
	struct env e = env();

	UNMAP_FAILS(&e, e.m, UINT32_MAX, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.m, e.live + 1, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.m, 255, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.m, 1u << 20, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.m, 0x80000000u, 0, 0, GNTST_bad_handle);
	/* a domain that never mapped anything */
	UNMAP_FAILS(&e, e.x, 0, 0, 0, GNTST_bad_handle);
	fx_destroy(e.c);
}

TEST(unmap_err_double_unmap)
{
	struct env e = env();
	grant_handle_t h1, h2;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h1), GNTST_okay);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h2), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h1, 0, 0), GNTST_okay);
	/* the freed slot is not a mapping any more, and h2's pin is left alone */
	UNMAP_FAILS(&e, e.m, h1, 0, 0, GNTST_bad_handle);
	CHECK_EQ(fx_busy(e.g, 8), GTF_reading);
	CHECK_EQ(fx_unmap(e.c, e.m, h2, 0, 0), GNTST_okay);
	UNMAP_FAILS(&e, e.m, h2, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.m, h1, 0, 0, GNTST_bad_handle);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	fx_destroy(e.c);
}

TEST(unmap_err_other_domains_handle)
{
	struct env e = env();

	/* m's handle means nothing to x (its maptrack is empty) nor to g */
	UNMAP_FAILS(&e, e.x, e.live, 0, 0, GNTST_bad_handle);
	UNMAP_FAILS(&e, e.g, e.live, 0, 0, GNTST_bad_handle);
	CHECK_EQ(fx_busy(e.g, 10), GTF_reading | GTF_writing);
	CHECK_EQ(fx_unmap(e.c, e.m, e.live, 0, 0), GNTST_okay);
	fx_destroy(e.c);
}

TEST(unmap_err_wrong_host_addr)
{
	struct env e = env();
	struct fx_map r;

	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	r = fx_map_op(e.c, e.m, e.g->id, 8, FX_RW, 0x40000000);
	CHECK_EQ(r.status, GNTST_okay);
	UNMAP_FAILS(&e, e.m, r.handle, 0x40001000, 0, GNTST_bad_virt_addr);
	UNMAP_FAILS(&e, e.m, r.handle, 0x40000001, 0, GNTST_bad_virt_addr);
	/* the host address is checked before the device address */
	UNMAP_FAILS(&e, e.m, r.handle, 0x1000, 0x1000, GNTST_bad_virt_addr);
	CHECK_EQ(fx_unmap(e.c, e.m, r.handle, 0x40000000, 0), GNTST_okay);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	/* 0 means "do not check" */
	r = fx_map_op(e.c, e.m, e.g->id, 8, FX_RW, 0x40000000);
	CHECK_EQ(fx_unmap(e.c, e.m, r.handle, 0, 0), GNTST_okay);
	fx_destroy(e.c);
}

TEST(unmap_err_wrong_dev_bus_addr)
{
	struct env e = env();
	struct fx_map r;

	fx_grant(e.g, 8, e.m->id, e.gfn2, GTF_permit_access);
	r = fx_map_op(e.c, e.m, e.g->id, 8, GNTMAP_device_map | GNTMAP_host_map, 0x5000);
	CHECK_EQ(r.status, GNTST_okay);
	CHECK(r.dev_bus_addr != 0);
	UNMAP_FAILS(&e, e.m, r.handle, 0x5000, r.dev_bus_addr + GNT_PAGE_SIZE, GNTST_bad_dev_addr);
	UNMAP_FAILS(&e, e.m, r.handle, 0, r.dev_bus_addr ^ ((uint64_t)1 << 40), GNTST_bad_dev_addr);
	/* a host-only mapping has no device address to match */
	UNMAP_FAILS(&e, e.m, e.live, 0, r.dev_bus_addr, GNTST_bad_dev_addr);
	CHECK_EQ(fx_unmap(e.c, e.m, r.handle, 0x5000, r.dev_bus_addr), GNTST_okay);
	fx_destroy(e.c);
}
