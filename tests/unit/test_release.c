/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_release.c - death: a mapper's release drops its handles, a
 * granter's release while mapped leaves a zombie until the last unmap, and
 * gnt_core_destroy frees everything whatever is still live.
 */
#include "fixture.h"

static void stats(struct gnt_core *c, struct gnt_core_stats *st)
{
	gnt_core_stats(c, st);
}

TEST(release_mapper_drops_handles_and_flags)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "g"), *g2 = fx_dom(c, "g2"), *m = fx_dom(c, "m");
	uint64_t a = fx_alloc(c, g, 1), b = fx_alloc(c, g, 2), x = fx_alloc(c, g2, 1);
	struct gnt_core_stats st;

	fx_grant(g, 8, m->id, a, GTF_permit_access);
	fx_grant(g, 9, m->id, b, GTF_permit_access);
	fx_grant(g, 10, m->id, b + 1, GTF_permit_access | GTF_readonly);
	fx_grant(g2, 8, m->id, x, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, m, g->id, 9, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, m, g2->id, 8, FX_RW, NULL), GNTST_okay);
	stats(c, &st);
	CHECK_EQ(st.mappings, 4);
	CHECK_EQ(st.exposures, 4);
	gnt__core_domain_release(c, m);
	CHECK(gnt_core_domain(c, 3) == NULL); /* nobody pinned m's table: freed */
	CHECK_EQ(fx_flags(g, 8), GTF_permit_access);
	CHECK_EQ(fx_flags(g, 9), GTF_permit_access);
	CHECK_EQ(fx_flags(g, 10), GTF_permit_access | GTF_readonly);
	CHECK_EQ(fx_flags(g2, 8), GTF_permit_access);
	CHECK_EQ(g->ext_pins, 0);
	CHECK_EQ(g2->ext_pins, 0);
	stats(c, &st);
	CHECK_EQ(st.domains, 3);
	CHECK_EQ(st.zombies, 0);
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(st.exposures, 0);
	CHECK_EQ(st.units, 3); /* the granters' memory is theirs */
	CHECK_EQ(fk.tables_live, 3);
	/* the granter can reuse its entries: another domain maps them */
	{
		struct gnt_domain *n = fx_dom(c, "n");
		fx_grant(g, 8, n->id, a, GTF_permit_access);
		CHECK_EQ(fx_map(c, n, g->id, 8, FX_RW, NULL), GNTST_okay);
	}
	fx_destroy(c);
}

TEST(release_unmapped_granter_freed_at_once)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "g"), *m = fx_dom(c, "m");
	uint64_t a = fx_alloc(c, g, 4);
	uint16_t gid = g->id;

	fx_alloc(c, g, 1);
	fx_grant(g, 8, m->id, a, GTF_permit_access);
	CHECK_EQ(fk.units_live, 2);
	gnt__core_domain_release(c, g);
	CHECK(gnt_core_domain(c, gid) == NULL);
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.tables_live, 2);
	{
		struct gnt_core_stats st;
		stats(c, &st);
		CHECK_EQ(st.domains, 2);
		CHECK_EQ(st.zombies, 0);
		CHECK_EQ(st.units, 0);
		CHECK_EQ(st.frames, 0);
	}
	/* and maps against the gone domain: bad_domain */
	CHECK_EQ(fx_map(c, m, gid, 8, FX_RO, NULL), GNTST_bad_domain);
	fx_destroy(c);
}

TEST(release_granter_while_mapped_zombie)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "g"), *m = fx_dom(c, "m"), *x = fx_dom(c, "x");
	uint64_t a = fx_alloc(c, g, 1), b = fx_alloc(c, g, 1);
	struct gnt_unit *ua = gnt_core_unit_of_gfn(g, a, NULL);
	uint32_t uaid = ua->id;
	uint16_t gid = g->id;
	struct gnt_core_stats st0, st;
	struct fx_map r;

	CHECK_EQ(fk.tables_live, 4);
	stats(c, &st0);
	CHECK_EQ(st0.domains, 4);
	memset(fx_mem(g, a), 0x11, GNT_PAGE_SIZE);
	fx_grant(g, 8, m->id, a, GTF_permit_access);
	fx_grant(g, 9, m->id, b, GTF_permit_access);
	r = fx_map_op(c, m, gid, 8, FX_RW, 0x1000);
	CHECK_EQ(r.status, GNTST_okay);

	gnt__core_domain_release(c, g);
	/* a zombie: still there, dying, not counted as a domain */
	CHECK(gnt_core_domain(c, gid) == g);
	CHECK_EQ(g->state, GNT_DOM_DYING);
	CHECK(gnt_core_domain_by_name(c, "g") == NULL);
	stats(c, &st);
	CHECK_EQ(st.domains, 3);
	CHECK_EQ(st.zombies, 1);
	CHECK_EQ(st.mappings, 1);
	CHECK_EQ(st.exposures, 1);
	CHECK_EQ(st.units, 1); /* b's unit went with the p2m; a's is exposed */
	CHECK_EQ(st.frames, 1);
	CHECK_EQ(g->p2m_len, 0);
	CHECK_EQ(fk.units_live, 1);
	CHECK_EQ(fk.tables_live, 4);
	/* the mapped unit is alive and still shared with the mapper */
	CHECK(gnt_core_unit(c, uaid) == ua);
	CHECK(!ua->in_p2m);
	CHECK_EQ(fake_page(r.unit, r.page)[0], 0x11);
	fake_page(r.unit, r.page)[1] = 0x22;
	CHECK_EQ(fx_busy(g, 8), GTF_reading | GTF_writing);
	/* new maps against it fail, from anyone */
	CHECK_EQ(fx_map(c, m, gid, 9, FX_RO, NULL), GNTST_general_error);
	CHECK_EQ(fx_map(c, m, gid, 8, FX_RW, NULL), GNTST_general_error);
	CHECK_EQ(fx_map(c, x, gid, 9, FX_RO, NULL), GNTST_general_error);
	/* the zombie's id and name: the id stays taken, the name is free */
	{
		struct gnt_domain *d = NULL;
		CHECK(gnt_core_domain_create(c, gid, "y", NULL, &d) < 0);
		d = fx_dom(c, "g");
		CHECK(d->id != gid);
		gnt__core_domain_release(c, d);
	}
	/* the last unmap frees unit and zombie */
	CHECK_EQ(fx_unmap(c, m, r.handle, 0x1000, 0), GNTST_okay);
	CHECK(gnt_core_domain(c, gid) == NULL);
	CHECK(gnt_core_unit(c, uaid) == NULL);
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.tables_live, 3);
	stats(c, &st);
	CHECK_EQ(st.domains, 3);
	CHECK_EQ(st.zombies, 0);
	CHECK_EQ(st.units, 0);
	CHECK_EQ(st.frames, 0);
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(st.exposures, 0);
	/* everyone else gone too: back to the start */
	gnt__core_domain_release(c, m);
	gnt__core_domain_release(c, x);
	CHECK(fx_stats_idle(c));
	CHECK_EQ(fk.tables_live, 1);
	fx_destroy(c);
}

TEST(release_zombie_freed_when_mapper_released)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *g = fx_dom(c, "g"), *m = fx_dom(c, "m");
	uint64_t a = fx_alloc(c, g, 3);
	uint16_t gid = g->id;

	for (uint32_t i = 0; i < 3; i++)
		fx_grant(g, 8 + i, m->id, a + i, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, gid, 8, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, m, gid, 10, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, m, gid, 10, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(c, g);
	CHECK(gnt_core_domain(c, gid) == g);
	CHECK_EQ(fk.units_live, 1);
	gnt__core_domain_release(c, m);
	CHECK(gnt_core_domain(c, gid) == NULL);
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.tables_live, 1);
	CHECK(fx_stats_idle(c));
	fx_destroy(c);
}

TEST(release_mutual_mappings)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b");
	uint64_t ga = fx_alloc(c, a, 1), gb = fx_alloc(c, b, 2);
	uint16_t aid = a->id, bid = b->id;

	fx_grant(a, 8, bid, ga, GTF_permit_access);
	fx_grant(b, 8, aid, gb, GTF_permit_access);
	fx_grant(b, 9, aid, gb + 1, GTF_permit_access);
	CHECK_EQ(fx_map(c, b, aid, 8, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, a, bid, 9, FX_RW, NULL), GNTST_okay);
	/* a dies: its mappings of b go, its table stays for b's mapping */
	gnt__core_domain_release(c, a);
	CHECK(gnt_core_domain(c, aid) == a);
	CHECK_EQ(fx_busy(b, 8), 0);
	CHECK_EQ(fx_busy(b, 9), 0);
	CHECK_EQ(b->ext_pins, 0);
	/* b dies: a is freed with it */
	gnt__core_domain_release(c, b);
	CHECK(gnt_core_domain(c, aid) == NULL);
	CHECK(gnt_core_domain(c, bid) == NULL);
	CHECK(fx_stats_idle(c));
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.tables_live, 1);
	fx_destroy(c);
}

TEST(release_chain_of_zombies)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b"), *d = fx_dom(c, "d");
	uint64_t ga = fx_alloc(c, a, 1), gb = fx_alloc(c, b, 1);
	uint16_t aid = a->id, bid = b->id;

	/* b maps a, d maps b; a and b die; d's unmap frees b, b's release had
	 * already dropped its mapping of a */
	fx_grant(a, 8, bid, ga, GTF_permit_access);
	fx_grant(b, 8, d->id, gb, GTF_permit_access);
	CHECK_EQ(fx_map(c, b, aid, 8, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, d, bid, 8, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(c, a);
	CHECK(gnt_core_domain(c, aid) == a);
	gnt__core_domain_release(c, b);
	CHECK(gnt_core_domain(c, aid) == NULL);
	CHECK(gnt_core_domain(c, bid) == b);
	gnt__core_domain_release(c, d);
	CHECK(gnt_core_domain(c, bid) == NULL);
	CHECK(fx_stats_idle(c));
	CHECK_EQ(fk.units_live, 0);
	fx_destroy(c);
}

/* A domain that maps its own grant (Xen allows it: loopback back ends), then
 * dies.  Releasing its own handle drops the last pin on its own table while
 * its release is still running: the domain must be freed once, at the end. */
TEST(release_domain_with_own_mapping)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "loop");
	uint64_t gfn = fx_alloc(c, d, 1);
	uint16_t id = d->id;

	fx_grant(d, 8, id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, d, id, 8, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, d, id, 8, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(c, d);
	CHECK(gnt_core_domain(c, id) == NULL);
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.tables_live, 1);
	CHECK(fx_stats_idle(c));
	fx_destroy(c);
}

TEST(release_stats_return_to_start)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d[4];
	uint64_t gfn[4];
	uint16_t id[4];

	CHECK(fx_stats_idle(c));
	for (int i = 0; i < 4; i++) {
		d[i] = fx_dom(c, (const char *[]){"a", "b", "c", "d"}[i]);
		id[i] = d[i]->id;
		gfn[i] = fx_alloc(c, d[i], 2);
	}
	/* everyone maps everyone's 2-page unit, read-only and writable */
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			grant_ref_t r = 8 + 2 * (grant_ref_t)j;
			fx_grant(d[i], r, id[j], gfn[i], GTF_permit_access);
			fx_grant(d[i], r + 1, id[j], gfn[i] + 1, GTF_permit_access);
		}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			if (i == j)
				continue;
			CHECK_EQ(fx_map(c, d[j], id[i], 8 + 2 * (grant_ref_t)j, FX_RO, NULL),
				 GNTST_okay);
			CHECK_EQ(fx_map(c, d[j], id[i], 9 + 2 * (grant_ref_t)j, FX_RW, NULL),
				 GNTST_okay);
		}
	{
		struct gnt_core_stats st;
		gnt_core_stats(c, &st);
		CHECK_EQ(st.mappings, 24);
		CHECK_EQ(st.exposures, 24);
		CHECK_EQ(st.units, 4);
		CHECK_EQ(st.frames, 8);
	}
	/* die in an order that makes zombies */
	gnt__core_domain_release(c, d[0]);
	gnt__core_domain_release(c, d[2]);
	{
		struct gnt_core_stats st;
		gnt_core_stats(c, &st);
		CHECK_EQ(st.zombies, 2);
		CHECK_EQ(st.domains, 3);
	}
	gnt__core_domain_release(c, d[3]);
	gnt__core_domain_release(c, d[1]);
	for (int i = 0; i < 4; i++)
		CHECK(gnt_core_domain(c, id[i]) == NULL);
	CHECK(fx_stats_idle(c));
	CHECK_EQ(fk.units_live, 0);
	CHECK_EQ(fk.pages_live, 0);
	CHECK_EQ(fk.tables_live, 1);
	fx_destroy(c);
}

TEST(destroy_with_live_mappings_frees_everything)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0);
	struct gnt_domain *a = fx_dom(c, "a"), *b = fx_dom(c, "b"), *z = fx_dom(c, "z");
	uint64_t g0 = fx_alloc(c, d0, 1), ga = fx_alloc(c, a, 3), gz = fx_alloc(c, z, 1);

	fx_alloc(c, b, 5);
	/* dom0 maps a (3-page unit), a maps dom0, b maps a and z, z is a zombie */
	for (uint32_t i = 0; i < 3; i++) {
		fx_grant(a, 8 + i, 0, ga + i, GTF_permit_access);
		fx_grant(a, 16 + i, b->id, ga + i, GTF_permit_access);
	}
	fx_grant(d0, 8, a->id, g0, GTF_permit_access);
	fx_grant(z, 8, b->id, gz, GTF_permit_access);
	CHECK_EQ(fx_map(c, d0, a->id, 9, FX_RW, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, a, 0, 8, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, b, a->id, 18, FX_RO, NULL), GNTST_okay);
	CHECK_EQ(fx_map(c, b, z->id, 8, FX_RW, NULL), GNTST_okay);
	gnt__core_domain_release(c, z);
	CHECK_EQ(fk.tables_live, 4);
	CHECK_EQ(fk.units_live, 4);
	fx_destroy(c); /* checks that every unit and table came back */
}

TEST(destroy_fresh_core)
{
	struct gnt_core *c = fx_core();

	CHECK_EQ(fk.tables_live, 1);
	fx_destroy(c);
	CHECK_EQ(fk.tables_total, 1);
}

TEST(destroy_with_own_mapping)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "loop");
	uint64_t gfn = fx_alloc(c, d, 1);

	fx_grant(d, 8, d->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, d, d->id, 8, FX_RO, NULL), GNTST_okay);
	fx_destroy(c);
}
