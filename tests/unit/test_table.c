/* SPDX-License-Identifier: MIT */
/* tests/unit/test_table.c - GNTTABOP_setup_table and GNTTABOP_query_size. */
#include "fixture.h"

static int16_t setup(struct gnt_core *c, struct gnt_domain *self, uint32_t dom, uint32_t nr_frames,
		     uint64_t *frames)
{
	struct gnttab_setup_table op = {.dom = (domid_t)dom, .nr_frames = nr_frames, .status = 99};

	CHECK_EQ(gnt_core_setup_table(c, self, &op, frames), 0);
	CHECK(op.status != 99);
	return op.status;
}

static struct gnttab_query_size query(struct gnt_core *c, struct gnt_domain *self, uint32_t dom)
{
	struct gnttab_query_size op = {
	    .dom = (domid_t)dom, .nr_frames = 77, .max_nr_frames = 77, .status = 99};

	CHECK_EQ(gnt_core_query_size(c, self, &op), 0);
	CHECK(op.status != 99);
	return op;
}

TEST(setup_table_grows_never_shrinks)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t frames[FX_GRANT_FRAMES + 1];

	CHECK_EQ(d->nr_frames, 1);
	memset(frames, 0xff, sizeof(frames));
	CHECK_EQ(setup(c, d, DOMID_SELF, 3, frames), GNTST_okay);
	CHECK_EQ(d->nr_frames, 3);
	/* frame numbers: distinct, and only nr_frames of them written */
	CHECK(frames[0] != frames[1] && frames[1] != frames[2] && frames[0] != frames[2]);
	CHECK_EQ(frames[3], UINT64_MAX);
	/* a smaller request succeeds and keeps the size */
	CHECK_EQ(setup(c, d, DOMID_SELF, 2, frames), GNTST_okay);
	CHECK_EQ(d->nr_frames, 3);
	CHECK_EQ(setup(c, d, DOMID_SELF, 0, frames), GNTST_okay);
	CHECK_EQ(d->nr_frames, 3);
	/* own id is the same as DOMID_SELF */
	CHECK_EQ(setup(c, d, d->id, FX_GRANT_FRAMES, frames), GNTST_okay);
	CHECK_EQ(d->nr_frames, FX_GRANT_FRAMES);
	/* the same frame numbers each time for the same frames */
	{
		uint64_t again[FX_GRANT_FRAMES];
		CHECK_EQ(setup(c, d, DOMID_SELF, FX_GRANT_FRAMES, again), GNTST_okay);
		CHECK(!memcmp(frames, again, sizeof(again)));
	}
	fx_destroy(c);
}

TEST(setup_table_beyond_max_general_error)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "a");
	uint64_t frames[FX_GRANT_FRAMES + 1];
	struct fx_snap s;

	CHECK_EQ(setup(c, d, DOMID_SELF, 2, frames), GNTST_okay);
	memset(frames, 0xee, sizeof(frames));
	fx_snap(c, &s);
	CHECK_EQ(setup(c, d, DOMID_SELF, FX_GRANT_FRAMES + 1, frames), GNTST_general_error);
	CHECK_EQ(setup(c, d, DOMID_SELF, UINT32_MAX, frames), GNTST_general_error);
	CHECK(fx_snap_same(c, &s));
	CHECK_EQ(d->nr_frames, 2);
	CHECK_EQ(frames[0], 0xeeeeeeeeeeeeeeeeull); /* nothing written */
	fx_destroy(c);
}

TEST(setup_table_other_domain_only_dom0)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0), *a = fx_dom(c, "a"), *b = fx_dom(c, "b");
	uint64_t frames[FX_GRANT_FRAMES];
	struct fx_snap s;

	fx_snap(c, &s);
	CHECK_EQ(setup(c, a, b->id, 2, frames), GNTST_permission_denied);
	CHECK_EQ(setup(c, a, 0, 2, frames), GNTST_permission_denied);
	CHECK(fx_snap_same(c, &s));
	CHECK_EQ(b->nr_frames, 1);
	CHECK_EQ(d0->nr_frames, 1);
	/* dom0 may */
	CHECK_EQ(setup(c, d0, b->id, 2, frames), GNTST_okay);
	CHECK_EQ(b->nr_frames, 2);
	CHECK_EQ(d0->nr_frames, 1);
	/* dom0 asking beyond the target's max */
	CHECK_EQ(setup(c, d0, b->id, FX_GRANT_FRAMES + 1, frames), GNTST_general_error);
	CHECK_EQ(b->nr_frames, 2);
	/* different domains' frame numbers differ */
	{
		uint64_t fa[1], fb[1];
		CHECK_EQ(setup(c, a, DOMID_SELF, 1, fa), GNTST_okay);
		CHECK_EQ(setup(c, b, DOMID_SELF, 1, fb), GNTST_okay);
		CHECK(fa[0] != fb[0]);
	}
	fx_destroy(c);
}

TEST(setup_table_unknown_or_dying_domain)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0), *a = fx_dom(c, "a"), *g = fx_dom(c, "g");
	uint64_t gfn = fx_alloc(c, g, 1), frames[2];
	uint16_t gid = g->id;

	CHECK_EQ(setup(c, d0, 0x1234, 1, frames), GNTST_bad_domain);
	CHECK_EQ(setup(c, d0, DOMID_IO, 1, frames), GNTST_bad_domain);
	/* the domain lookup comes before the privilege check, as in Xen */
	CHECK_EQ(setup(c, a, 0x1234, 1, frames), GNTST_bad_domain);
	/* a zombie is not a live domain */
	fx_grant(g, 8, a->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, a, gid, 8, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(c, g);
	CHECK(gnt_core_domain(c, gid) != NULL);
	CHECK_EQ(setup(c, d0, gid, 2, frames), GNTST_bad_domain);
	CHECK_EQ(query(c, d0, gid).status, GNTST_bad_domain);
	fx_destroy(c);
}

TEST(query_size_reports_sizes)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0);
	struct gnt_domain *a = fx_dom_lim(c, "a", 7, 1, 0), *b = fx_dom(c, "b");
	struct gnttab_query_size q;
	uint64_t frames[7];

	q = query(c, a, DOMID_SELF);
	CHECK_EQ(q.status, GNTST_okay);
	CHECK_EQ(q.nr_frames, 1);
	CHECK_EQ(q.max_nr_frames, 7);
	CHECK_EQ(setup(c, a, DOMID_SELF, 5, frames), GNTST_okay);
	q = query(c, a, a->id);
	CHECK_EQ(q.status, GNTST_okay);
	CHECK_EQ(q.nr_frames, 5);
	CHECK_EQ(q.max_nr_frames, 7);
	/* others: dom0 only */
	q = query(c, b, a->id);
	CHECK_EQ(q.status, GNTST_permission_denied);
	q = query(c, d0, a->id);
	CHECK_EQ(q.status, GNTST_okay);
	CHECK_EQ(q.nr_frames, 5);
	CHECK_EQ(q.max_nr_frames, 7);
	q = query(c, d0, DOMID_SELF);
	CHECK_EQ(q.status, GNTST_okay);
	CHECK_EQ(q.max_nr_frames, FX_GRANT_FRAMES);
	q = query(c, d0, 0x1234);
	CHECK_EQ(q.status, GNTST_bad_domain);
	fx_destroy(c);
}

TEST(entries_in_use_and_active_lookup)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a");
	uint64_t frames[2];

	CHECK_EQ(gnt_core_entries_in_use(a), 0);
	fx_grant(a, 1, 0, 0x100, GTF_permit_access);
	fx_grant(a, 8, 0, 0x100, GTF_permit_access | GTF_readonly);
	fx_grant(a, 9, 0, 0x100, GTF_accept_transfer);
	fx_grant(a, 10, 0, 0x100, GTF_reading);	       /* no type: not in use */
	fx_grant(a, 600, 0, 0x100, GTF_permit_access); /* beyond nr_frames */
	CHECK_EQ(gnt_core_entries_in_use(a), 3);
	CHECK(gnt_core_active(a, 511) != NULL);
	CHECK(gnt_core_active(a, 512) == NULL);
	CHECK_EQ(setup(c, a, DOMID_SELF, 2, frames), GNTST_okay);
	CHECK_EQ(gnt_core_entries_in_use(a), 4);
	CHECK(gnt_core_active(a, 1023) != NULL);
	CHECK(gnt_core_active(a, 1024) == NULL);
	fx_destroy(c);
}

TEST(status_strings)
{
	CHECK(!strcmp(gnt_status_str(GNTST_okay), "okay"));
	CHECK(!strcmp(gnt_status_str(GNTST_general_error), "undefined error"));
	CHECK(!strcmp(gnt_status_str(GNTST_bad_domain), "unrecognised domain id"));
	CHECK(!strcmp(gnt_status_str(GNTST_bad_gntref), "invalid grant reference"));
	CHECK(!strcmp(gnt_status_str(GNTST_bad_handle), "invalid mapping handle"));
	CHECK(!strcmp(gnt_status_str(GNTST_bad_copy_arg), "copy arguments cross page boundary"));
	CHECK(!strcmp(gnt_status_str(GNTST_eagain), "operation not done; try again"));
	CHECK(!strcmp(gnt_status_str(GNTST_no_space), "out of space"));
	CHECK(!strcmp(gnt_status_str(-14), "unknown status"));
	CHECK(!strcmp(gnt_status_str(1), "unknown status"));
	CHECK(!strcmp(gnt_status_str(INT16_MIN), "unknown status"));
}
