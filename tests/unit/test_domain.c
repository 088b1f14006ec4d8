/* SPDX-License-Identifier: MIT */
/* tests/unit/test_domain.c - domain creation, ids, names, limits, lookup. */
#include <errno.h>

#include "fixture.h"

/* Create and release an anonymous, cheap domain; returns its id. */
static uint16_t cycle_one(struct gnt_core *c)
{
	struct gnt_domain *d = fx_dom_lim(c, NULL, 1, 1, 0);
	uint16_t id = d->id;

	gnt__core_domain_release(c, d);
	return id;
}

TEST(domain_dom0_exists_after_create)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0);

	CHECK(d0 != NULL);
	CHECK_EQ(d0->id, 0);
	CHECK_EQ(d0->state, GNT_DOM_ALIVE);
	CHECK(!strcmp(d0->name, "Domain-0"));
	CHECK(gnt_core_domain_by_name(c, "Domain-0") == d0);
	/* dom0 gets the core's default limits and a one-frame table */
	CHECK_EQ(d0->max_frames, FX_GRANT_FRAMES);
	CHECK_EQ(d0->nr_frames, 1);
	CHECK_EQ(d0->max_pages, FX_MAX_PAGES);
	CHECK_EQ(d0->mt_limit, FX_MAPTRACK_FRAMES * GNT_MAPTRACK_PER_FRAME);
	CHECK_EQ(d0->tot_pages, 0);
	CHECK(d0->table != NULL);
	CHECK_EQ(gnt_core_entries_in_use(d0), 0);
	CHECK_EQ(fk.tables_live, 1);
	CHECK_EQ(fk.units_live, 0);
	CHECK(fx_stats_idle(c));
	CHECK(gnt_core_domain(c, 1) == NULL);
	CHECK(gnt_core_domain(c, DOMID_SELF) == NULL);
	CHECK(gnt_core_domain(c, 0xFFFFFFFFu) == NULL);
	fx_destroy(c);
}

TEST(domain_create_core_fails_cleanly_without_table)
{
	struct gnt_limits lim = {.max_grant_frames = 1, .max_maptrack_frames = 1};

	fk.fail_table_alloc = true;
	CHECK(gnt_core_create(&fake_ops, &fk, &lim) == NULL);
	CHECK_EQ(fk.tables_live, 0);
}

TEST(domain_null_limits_use_core_defaults)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = NULL;

	CHECK_EQ(gnt_core_domain_create(c, 0, "a", NULL, &d), 0);
	CHECK(d != NULL);
	CHECK_EQ(d->max_frames, FX_GRANT_FRAMES);
	CHECK_EQ(d->mt_limit, FX_MAPTRACK_FRAMES * GNT_MAPTRACK_PER_FRAME);
	CHECK_EQ(d->max_pages, FX_MAX_PAGES);
	CHECK_EQ(d->nr_frames, 1);
	CHECK_EQ(d->state, GNT_DOM_ALIVE);
	fx_destroy(c);
}

TEST(domain_ids_round_robin)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b"), *d;

	CHECK_EQ(a->id, 1);
	CHECK_EQ(b->id, 2);
	CHECK(gnt_core_domain(c, 1) == a);
	CHECK(gnt_core_domain(c, 2) == b);
	gnt__core_domain_release(c, a);
	CHECK(gnt_core_domain(c, 1) == NULL);
	/* a freed id is not the next one handed out: round robin goes on */
	d = fx_dom(c, "c");
	CHECK_EQ(d->id, 3);
	d = fx_dom(c, "d");
	CHECK_EQ(d->id, 4);
	fx_destroy(c);
}

TEST(domain_ids_wrap_and_skip_live)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b"), *d;
	uint32_t expect = 3, n = 0;

	CHECK_EQ(a->id, 1);
	CHECK_EQ(b->id, 2);
	/* ids 3..0x7FEF, each released at once */
	for (;;) {
		uint16_t id = cycle_one(c);
		CHECK_EQ(id, expect);
		n++;
		if (id == GNT_MAX_DOMID)
			break;
		expect++;
	}
	CHECK_EQ(n, GNT_MAX_DOMID - 2);
	/* wrap: 1 and 2 are alive, never 0 (dom0), next is 3 */
	d = fx_dom(c, "c");
	CHECK_EQ(d->id, 3);
	gnt__core_domain_release(c, a);
	/* 1 is free now but round robin continues from 4 */
	d = fx_dom(c, "d");
	CHECK_EQ(d->id, 4);
	CHECK_EQ(fk.tables_live, 4);
	fx_destroy(c);
}

TEST(domain_zombie_id_not_reused)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "granter"), *m = fx_dom(c, "mapper");
	uint16_t gid = g->id, mid = m->id;
	uint64_t gfn = fx_alloc(c, g, 1);
	grant_handle_t h;
	uint32_t i;

	fx_grant(g, 8, mid, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, gid, 8, FX_RO, &h), GNTST_okay);
	gnt__core_domain_release(c, g);
	CHECK(gnt_core_domain(c, gid) == g);
	CHECK_EQ(g->state, GNT_DOM_DYING);
	/* one full turn of the id space and more: the zombie's id never comes back */
	for (i = 0; i < GNT_MAX_DOMID + 10; i++) {
		uint16_t id = cycle_one(c);
		CHECK(id != 0);
		CHECK(id != gid);
		CHECK(id != mid);
	}
	/* nor can it be asked for */
	{
		struct gnt_domain *d = NULL;
		CHECK_EQ(gnt_core_domain_create(c, gid, "x", NULL, &d), -EEXIST);
	}
	/* once the mapper lets go the zombie is freed and its id comes round again */
	CHECK_EQ(fx_unmap(c, m, h, 0, 0), GNTST_okay);
	CHECK(gnt_core_domain(c, gid) == NULL);
	for (i = 0; i < GNT_MAX_DOMID; i++)
		if (cycle_one(c) == gid)
			break;
	CHECK(i < GNT_MAX_DOMID);
	fx_destroy(c);
}

TEST(domain_explicit_id)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = NULL, *e = NULL;

	CHECK_EQ(gnt_core_domain_create(c, 100, "hundred", NULL, &d), 0);
	CHECK_EQ(d->id, 100);
	CHECK(gnt_core_domain(c, 100) == d);
	CHECK_EQ(gnt_core_domain_create(c, 100, "other", NULL, &e), -EEXIST);
	CHECK(e == NULL);
	CHECK_EQ(gnt_core_domain_create(c, GNT_MAX_DOMID, "last", NULL, &e), 0);
	CHECK_EQ(e->id, GNT_MAX_DOMID);
	/* reserved ids (DOMID_SELF and above) are never real domains */
	e = NULL;
	CHECK(gnt_core_domain_create(c, DOMID_SELF, "self", NULL, &e) < 0);
	CHECK(gnt_core_domain_create(c, DOMID_IDLE, "idle", NULL, &e) < 0);
	CHECK(e == NULL);
	/* an explicit id does not disturb the round robin */
	e = fx_dom(c, "rr");
	CHECK_EQ(e->id, 1);
	fx_destroy(c);
}

TEST(domain_duplicate_name_eexist)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "web"), *d = NULL;
	struct gnt_core_stats st;

	CHECK_EQ(gnt_core_domain_create(c, 0, "web", NULL, &d), -EEXIST);
	CHECK(d == NULL);
	CHECK_EQ(gnt_core_domain_create(c, 0, "Domain-0", NULL, &d), -EEXIST);
	gnt_core_stats(c, &st);
	CHECK_EQ(st.domains, 2);
	CHECK_EQ(fk.tables_live, 2);
	CHECK(gnt_core_domain_by_name(c, "web") == a);
	CHECK(gnt_core_domain_by_name(c, "nope") == NULL);
	/* nameless domains do not clash with each other */
	fx_dom(c, NULL);
	fx_dom(c, NULL);
	/* the name is free again once its domain is gone */
	gnt__core_domain_release(c, a);
	CHECK(gnt_core_domain_by_name(c, "web") == NULL);
	d = fx_dom(c, "web");
	CHECK(gnt_core_domain_by_name(c, "web") == d);
	fx_destroy(c);
}

/* Names are stored in 64 bytes.  Two different long names that share their
 * first 63 characters, or the same long name twice, must not give two live
 * domains the same stored name. */
TEST(domain_long_name_no_duplicate)
{
	struct gnt_core *c = fx_core();
	char name[100];
	struct gnt_domain *a = NULL, *b = NULL;
	int ra, rb;

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	ra = gnt_core_domain_create(c, 0, name, NULL, &a);
	rb = gnt_core_domain_create(c, 0, name, NULL, &b);
	if (ra == 0 && rb == 0)
		FAIL("the same %zu-character name was accepted twice (stored as \"%.20s...\" "
		     "in d%u and d%u)",
		     strlen(name), a->name, a->id, b->id);
	CHECK(ra < 0 || rb == -EEXIST);
	fx_destroy(c);
}

TEST(domain_bad_limits_einval)
{
	struct gnt_core *c = fx_core();
	static const struct gnt_limits bad[] = {
	    {.max_grant_frames = 0, .max_maptrack_frames = 1, .max_pages = 1},
	    {.max_grant_frames = 4097, .max_maptrack_frames = 1, .max_pages = 1},
	    {.max_grant_frames = 1, .max_maptrack_frames = 0, .max_pages = 1},
	    {.max_grant_frames = 1, .max_maptrack_frames = 65537, .max_pages = 1},
	    {.max_grant_frames = UINT32_MAX, .max_maptrack_frames = UINT32_MAX},
	};
	struct gnt_domain *d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = NULL;
		CHECK_EQ(gnt_core_domain_create(c, 0, "bad", &bad[i], &d), -EINVAL);
		CHECK(d == NULL);
		CHECK(gnt_core_domain_by_name(c, "bad") == NULL);
	}
	CHECK_EQ(fk.tables_live, 1);
	CHECK(fx_stats_idle(c));
	/* the limits themselves are accepted */
	d = fx_dom_lim(c, "edge1", 1, 1, 0);
	CHECK_EQ(d->max_frames, 1);
	CHECK_EQ(d->mt_limit, GNT_MAPTRACK_PER_FRAME);
	d = fx_dom_lim(c, "edge2", 4096, 65536, 0);
	CHECK_EQ(d->max_frames, 4096);
	CHECK_EQ(d->mt_limit, 65536u * GNT_MAPTRACK_PER_FRAME);
	fx_destroy(c);
}

TEST(domain_table_alloc_failure_leaves_nothing)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = NULL;

	fk.fail_table_alloc = true;
	CHECK(gnt_core_domain_create(c, 0, "a", NULL, &d) < 0);
	CHECK(d == NULL);
	CHECK(gnt_core_domain_by_name(c, "a") == NULL);
	CHECK(gnt_core_domain(c, 1) == NULL);
	CHECK_EQ(fk.tables_live, 1);
	fk.fail_table_alloc = false;
	d = fx_dom(c, "a");
	CHECK(d->id >= 1);
	fx_destroy(c);
}

TEST(domain_next_iterates_live_and_zombies)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b"), *x = fx_dom(c, "c");
	uint64_t gfn = fx_alloc(c, b, 1);
	uint16_t seen[8];
	uint32_t n = 0;

	gnt__core_domain_release(c, a);
	/* b becomes a zombie: x maps its page */
	fx_grant(b, 8, x->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, x, b->id, 8, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(c, b);
	for (struct gnt_domain *d = gnt_core_domain_next(c, 0); d;
	     d = gnt_core_domain_next(c, d->id + 1u)) {
		CHECK(n < 8);
		seen[n++] = d->id;
	}
	CHECK_EQ(n, 3);
	CHECK_EQ(seen[0], 0);
	CHECK_EQ(seen[1], 2);
	CHECK_EQ(seen[2], 3);
	CHECK(gnt_core_domain_next(c, 4) == NULL);
	CHECK(gnt_core_domain_next(c, GNT_NR_DOMIDS) == NULL);
	/* a zombie is not found by name */
	CHECK(gnt_core_domain_by_name(c, "b") == NULL);
	fx_destroy(c);
}
