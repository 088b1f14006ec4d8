/* SPDX-License-Identifier: MIT */
/* tests/unit/test_copy.c - GNTTABOP_copy: directions, bounds, pins, errors. */
#include "fixture.h"

struct cenv {
	struct gnt_core *c;
	struct gnt_domain *a, *b, *x; /* granter, copier, third party */
	uint64_t ga, gb, gx;	      /* one page each */
};

static void fill(uint8_t *p, uint8_t seed)
{
	for (uint32_t i = 0; i < GNT_PAGE_SIZE; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static struct cenv cenv(void)
{
	struct cenv e;

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

static struct gnttab_copy_ptr by_ref(grant_ref_t ref, uint16_t dom, uint16_t off)
{
	struct gnttab_copy_ptr p = {.domid = dom, .offset = off};
	p.u.ref = ref;
	return p;
}

static struct gnttab_copy_ptr by_gfn(uint64_t gfn, uint16_t dom, uint16_t off)
{
	struct gnttab_copy_ptr p = {.domid = dom, .offset = off};
	p.u.gmfn = gfn;
	return p;
}

static void copy_fails(struct cenv *e, struct gnt_domain *self, struct gnttab_copy op, int16_t want,
		       int line)
{
	struct fx_snap s;
	int16_t st;

	fx_snap(e->c, &s);
	st = fx_copy(e->c, self, op);
	if (st != want)
		gnt__test_fail(__FILE__, line, "copy: status %d, expected %d", st, want);
	if (!fx_snap_same(e->c, &s))
		gnt__test_fail(__FILE__, line, "failed copy (status %d) changed state", want);
}
#define COPY_FAILS(e, self, op, want) copy_fails((e), (self), (op), (want), __LINE__)

static bool no_pins(struct gnt_core *c)
{
	struct gnt_core_stats st;
	gnt_core_stats(c, &st);
	return st.pins == 0 && st.mappings == 0 && st.exposures == 0;
}

TEST(copy_gref_to_gmfn)
{
	struct cenv e = cenv();
	uint8_t before[GNT_PAGE_SIZE];
	uint8_t *src = fx_mem(e.a, e.ga), *dst = fx_mem(e.b, e.gb);
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 100),
	    .dest = by_gfn(e.gb, DOMID_SELF, 200),
	    .len = 50,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access | GTF_readonly);
	memcpy(before, dst, sizeof(before));
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK(!memcmp(dst + 200, src + 100, 50));
	CHECK(!memcmp(dst, before, 200));
	CHECK(!memcmp(dst + 250, before + 250, GNT_PAGE_SIZE - 250));
	/* pins released: the entry is as the guest wrote it */
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access | GTF_readonly);
	CHECK_EQ(fx_pins(e.a, 8), 0);
	CHECK_EQ(gnt_core_active(e.a, 8)->unit, GNT_NO_UNIT);
	CHECK_EQ(e.a->ext_pins, 0);
	CHECK(no_pins(e.c));
	CHECK_EQ(fk.copies, 1);
	/* a whole page */
	op.source.offset = 0;
	op.dest.offset = 0;
	op.len = GNT_PAGE_SIZE;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK(!memcmp(dst, src, GNT_PAGE_SIZE));
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access | GTF_readonly);
	fx_destroy(e.c);
}

TEST(copy_gmfn_to_gref)
{
	struct cenv e = cenv();
	uint8_t *src = fx_mem(e.b, e.gb), *dst = fx_mem(e.a, e.ga);
	uint8_t before[GNT_PAGE_SIZE];
	struct gnttab_copy op = {
	    .source = by_gfn(e.gb, DOMID_SELF, 4000),
	    .dest = by_ref(9, e.a->id, 0),
	    .len = 96,
	    .flags = GNTCOPY_dest_gref,
	};

	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	memcpy(before, dst, sizeof(before));
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK(!memcmp(dst, src + 4000, 96));
	CHECK(!memcmp(dst + 96, before + 96, GNT_PAGE_SIZE - 96));
	CHECK_EQ(fx_flags(e.a, 9), GTF_permit_access);
	CHECK_EQ(fx_pins(e.a, 9), 0);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_gref_to_gref)
{
	struct cenv e = cenv();
	uint8_t *src = fx_mem(e.a, e.ga), *dst = fx_mem(e.b, e.gb);
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 10),
	    .dest = by_ref(9, e.b->id, 20),
	    .len = 1000,
	    .flags = GNTCOPY_source_gref | GNTCOPY_dest_gref,
	};

	/* a third party copies between two grants made to it */
	fx_grant(e.a, 8, e.x->id, e.ga, GTF_permit_access | GTF_readonly);
	fx_grant(e.b, 9, e.x->id, e.gb, GTF_permit_access);
	CHECK_EQ(fx_copy(e.c, e.x, op), GNTST_okay);
	CHECK(!memcmp(dst + 20, src + 10, 1000));
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access | GTF_readonly);
	CHECK_EQ(fx_flags(e.b, 9), GTF_permit_access);
	CHECK(no_pins(e.c));
	/* DOMID_SELF with a gref names the caller's own table */
	fx_grant(e.x, 8, e.x->id, e.gx, GTF_permit_access);
	op.source = by_ref(8, DOMID_SELF, 0);
	op.dest = by_ref(9, e.b->id, 0);
	op.len = 16;
	CHECK_EQ(fx_copy(e.c, e.x, op), GNTST_okay);
	CHECK(!memcmp(dst, fx_mem(e.x, e.gx), 16));
	CHECK_EQ(fx_flags(e.x, 8), GTF_permit_access);
	/* one entry as source and destination */
	op.source = by_ref(9, e.b->id, 0);
	op.dest = by_ref(9, e.b->id, 2048);
	op.len = 2048;
	CHECK_EQ(fx_copy(e.c, e.x, op), GNTST_okay);
	CHECK(!memcmp(dst, dst + 2048, 2048));
	CHECK_EQ(fx_flags(e.b, 9), GTF_permit_access);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_bad_copy_arg)
{
	struct cenv e = cenv();
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 4000),
	    .dest = by_gfn(e.gb, DOMID_SELF, 0),
	    .len = 97,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	COPY_FAILS(&e, e.b, op, GNTST_bad_copy_arg); /* source side */
	op.source.offset = 0;
	op.dest.offset = 4000;
	COPY_FAILS(&e, e.b, op, GNTST_bad_copy_arg); /* dest side */
	op.dest.offset = 0;
	op.len = GNT_PAGE_SIZE + 1;
	COPY_FAILS(&e, e.b, op, GNTST_bad_copy_arg);
	op.len = UINT16_MAX;
	op.source.offset = UINT16_MAX;
	COPY_FAILS(&e, e.b, op, GNTST_bad_copy_arg);
	/* checked before anything else: even with unknown domains */
	op.source = by_ref(8, 0x1234, 4095);
	op.dest = by_gfn(e.gb, 0x1234, 0);
	op.len = 2;
	COPY_FAILS(&e, e.b, op, GNTST_bad_copy_arg);
	/* the exact page end is fine */
	op.source = by_ref(8, e.a->id, 4095);
	op.dest = by_gfn(e.gb, DOMID_SELF, 4095);
	op.len = 1;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK_EQ(fx_mem(e.b, e.gb)[4095], fx_mem(e.a, e.ga)[4095]);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_len_zero_okay_without_data_change)
{
	struct cenv e = cenv();
	uint8_t a0[GNT_PAGE_SIZE], b0[GNT_PAGE_SIZE];
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 0),
	    .dest = by_gfn(e.gb, DOMID_SELF, 0),
	    .len = 0,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	memcpy(a0, fx_mem(e.a, e.ga), sizeof(a0));
	memcpy(b0, fx_mem(e.b, e.gb), sizeof(b0));
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	op.source.offset = GNT_PAGE_SIZE; /* offset 4096 + len 0 is within the page */
	op.dest.offset = GNT_PAGE_SIZE;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK(!memcmp(a0, fx_mem(e.a, e.ga), sizeof(a0)));
	CHECK(!memcmp(b0, fx_mem(e.b, e.gb), sizeof(b0)));
	CHECK_EQ(fk.copied_bytes, 0);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_gmfn_needs_domid_self)
{
	struct cenv e = cenv();
	struct gnttab_copy op = {
	    .source = by_gfn(e.gb, e.b->id, 0), /* own id, but not DOMID_SELF */
	    .dest = by_ref(8, e.a->id, 0),
	    .len = 8,
	    .flags = GNTCOPY_dest_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	COPY_FAILS(&e, e.b, op, GNTST_permission_denied);
	op.source = by_gfn(e.ga, e.a->id, 0); /* another domain's frame */
	COPY_FAILS(&e, e.b, op, GNTST_permission_denied);
	/* dest side, after a good gref source: the source pin is undone */
	op.flags = GNTCOPY_source_gref;
	op.source = by_ref(8, e.a->id, 0);
	op.dest = by_gfn(e.gb, e.a->id, 0);
	COPY_FAILS(&e, e.b, op, GNTST_permission_denied);
	op.dest = by_gfn(e.gb, e.b->id, 0);
	COPY_FAILS(&e, e.b, op, GNTST_permission_denied);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(copy_dest_readonly_general_error)
{
	struct cenv e = cenv();
	uint8_t a0[GNT_PAGE_SIZE];
	struct gnttab_copy op = {
	    .source = by_gfn(e.gb, DOMID_SELF, 0),
	    .dest = by_ref(8, e.a->id, 0),
	    .len = 64,
	    .flags = GNTCOPY_dest_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access | GTF_readonly);
	memcpy(a0, fx_mem(e.a, e.ga), sizeof(a0));
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	/* from a gref source too: its read pin is released */
	fx_grant(e.x, 9, e.b->id, e.gx, GTF_permit_access);
	op.source = by_ref(9, e.x->id, 0);
	op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	CHECK(!memcmp(a0, fx_mem(e.a, e.ga), sizeof(a0)));
	CHECK_EQ(fx_flags(e.x, 9), GTF_permit_access);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access | GTF_readonly);
	fx_destroy(e.c);
}

TEST(copy_gref_errors)
{
	struct cenv e = cenv();
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 0),
	    .dest = by_gfn(e.gb, DOMID_SELF, 0),
	    .len = 8,
	    .flags = GNTCOPY_source_gref,
	};

	/* unknown domain, DOMID_SELF naming an empty own entry */
	op.source.domid = 0x1234;
	COPY_FAILS(&e, e.b, op, GNTST_bad_domain);
	op.source.domid = DOMID_SELF;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	/* empty entry, granted to someone else, wrong type, out of range */
	op.source.domid = e.a->id;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	fx_grant(e.a, 8, e.x->id, e.ga, GTF_permit_access);
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	fx_grant(e.a, 8, e.b->id, e.ga, GTF_accept_transfer);
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	op.source.u.ref = 512;
	COPY_FAILS(&e, e.b, op, GNTST_bad_gntref);
	/* frame not in the granter's memory: bad_page, flags restored */
	fx_grant(e.a, 8, e.b->id, 0x42, GTF_permit_access);
	op.source.u.ref = 8;
	COPY_FAILS(&e, e.b, op, GNTST_bad_page);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	/* a frame the copier does not own */
	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	op.dest.u.gmfn = e.gb + 1;
	COPY_FAILS(&e, e.b, op, GNTST_bad_page);
	op.flags = 0;
	op.source = by_gfn(0x10, DOMID_SELF, 0);
	op.dest = by_gfn(e.gb, DOMID_SELF, 0);
	COPY_FAILS(&e, e.b, op, GNTST_bad_page);
	/* dest gref errors after a good source */
	op.source = by_ref(8, e.a->id, 0);
	op.dest = by_ref(9, e.x->id, 0);
	op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	op.dest.domid = 0x4321;
	COPY_FAILS(&e, e.b, op, GNTST_bad_domain);
	op.dest = by_ref(UINT32_MAX, e.x->id, 0);
	COPY_FAILS(&e, e.b, op, GNTST_bad_gntref);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_dying_granter_general_error)
{
	struct cenv e = cenv();
	uint16_t aid = e.a->id;
	grant_handle_t h;
	struct gnttab_copy op = {
	    .source = by_ref(9, aid, 0),
	    .dest = by_gfn(e.gb, DOMID_SELF, 0),
	    .len = 8,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	fx_grant(e.a, 9, e.b->id, e.ga, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, aid, 8, FX_RO, &h), GNTST_okay);
	gnt__core_domain_release(e.c, e.a);
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	op.source.u.ref = 8;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK(gnt_core_domain(e.c, aid) == NULL);
	COPY_FAILS(&e, e.b, op, GNTST_bad_domain);
	fx_destroy(e.c);
}

TEST(copy_leaves_existing_mapping_pins)
{
	struct cenv e = cenv();
	const struct gnt_active *a = gnt_core_active(e.a, 8);
	grant_handle_t h;
	uint32_t rd;
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 0),
	    .dest = by_gfn(e.gb, DOMID_SELF, 0),
	    .len = 128,
	    .flags = GNTCOPY_source_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 8, FX_RO, &h), GNTST_okay);
	rd = a->rd;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK_EQ(a->rd, rd);
	CHECK_EQ(a->wr, 0);
	CHECK_EQ(fx_busy(e.a, 8), GTF_reading);
	/* writing through a grant mapped read-only: GTF_writing only for the copy */
	op.source = by_gfn(e.gb, DOMID_SELF, 0);
	op.dest = by_ref(8, e.a->id, 0);
	op.flags = GNTCOPY_dest_gref;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK_EQ(a->rd, rd);
	CHECK_EQ(a->wr, 0);
	CHECK_EQ(fx_busy(e.a, 8), GTF_reading);
	/* someone else cannot copy while b pins it */
	fx_grant(e.a, 8, e.x->id, e.ga, GTF_permit_access | GTF_reading);
	op.source = by_ref(8, e.a->id, 0);
	op.dest = by_gfn(e.gx, DOMID_SELF, 0);
	op.flags = GNTCOPY_source_gref;
	COPY_FAILS(&e, e.x, op, GNTST_general_error);
	CHECK_EQ(fx_unmap(e.c, e.b, h, 0, 0), GNTST_okay);
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}

TEST(copy_batch_elements_independent)
{
	struct cenv e = cenv();
	uint8_t *dst = fx_mem(e.b, e.gb);
	struct gnttab_copy ops[3] = {
	    {.source = by_ref(8, e.a->id, 0),
	     .dest = by_gfn(e.gb, DOMID_SELF, 0),
	     .len = 4,
	     .flags = GNTCOPY_source_gref},
	    {.source = by_ref(9, e.a->id, 0),
	     .dest = by_gfn(e.gb, DOMID_SELF, 8),
	     .len = 4,
	     .flags = GNTCOPY_source_gref},
	    {.source = by_ref(8, e.a->id, 16),
	     .dest = by_gfn(e.gb, DOMID_SELF, 16),
	     .len = 4,
	     .flags = GNTCOPY_source_gref},
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	for (int i = 0; i < 3; i++)
		ops[i].status = 99;
	CHECK_EQ(gnt_core_copy(e.c, e.b, ops, 3), 0);
	CHECK_EQ(ops[0].status, GNTST_okay);
	CHECK_EQ(ops[1].status, GNTST_general_error);
	CHECK_EQ(ops[2].status, GNTST_okay);
	CHECK(!memcmp(dst, fx_mem(e.a, e.ga), 4));
	CHECK(!memcmp(dst + 16, fx_mem(e.a, e.ga) + 16, 4));
	CHECK(no_pins(e.c));
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	fx_destroy(e.c);
}

TEST(copy_backend_failure_releases_pins)
{
	struct cenv e = cenv();
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 0),
	    .dest = by_ref(9, e.x->id, 0),
	    .len = 4,
	    .flags = GNTCOPY_source_gref | GNTCOPY_dest_gref,
	};

	fx_grant(e.a, 8, e.b->id, e.ga, GTF_permit_access);
	fx_grant(e.x, 9, e.b->id, e.gx, GTF_permit_access);
	fk.fail_copy = true;
	COPY_FAILS(&e, e.b, op, GNTST_general_error);
	CHECK_EQ(fx_flags(e.a, 8), GTF_permit_access);
	CHECK_EQ(fx_flags(e.x, 9), GTF_permit_access);
	fk.fail_copy = false;
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	fx_destroy(e.c);
}

TEST(copy_multipage_unit_pages)
{
	struct cenv e = cenv();
	uint64_t big = fx_alloc(e.c, e.a, 3), mine = fx_alloc(e.c, e.b, 2);
	struct gnttab_copy op = {
	    .source = by_ref(8, e.a->id, 5),
	    .dest = by_gfn(mine + 1, DOMID_SELF, 7),
	    .len = 100,
	    .flags = GNTCOPY_source_gref,
	};

	/* only page 2 of the 3-page unit is granted: copy does not need the
	 * unit rule, and reaches exactly that page */
	fill(fx_mem(e.a, big + 2), 55);
	fx_grant(e.a, 8, e.b->id, big + 2, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.b, e.a->id, 8, FX_RO, NULL), GNTST_general_error);
	CHECK_EQ(fx_copy(e.c, e.b, op), GNTST_okay);
	CHECK(!memcmp(fx_mem(e.b, mine + 1) + 7, fx_mem(e.a, big + 2) + 5, 100));
	CHECK(memcmp(fx_mem(e.b, mine) + 7, fx_mem(e.a, big + 2) + 5, 100));
	CHECK(no_pins(e.c));
	fx_destroy(e.c);
}
