/* SPDX-License-Identifier: MIT */
/*
 * Exposures with revocation hooks (what gntd does as root): an exposure whose
 * last handle goes is parked with its pins, revived by a new map, released
 * only when settled, and never revived once lingering.
 */
#include <stdlib.h>

#include "../runner.h"
#include "fixture.h"

static int opened, freed, parked;
static struct gnt_expo *last_parked;

static int h_open(void *ctx, struct gnt_expo *x, struct gnt_unit *u)
{
	(void)ctx, (void)u;
	x->file = &opened; /* any non-NULL cookie */
	opened++;
	return 0;
}

static void h_parked(void *ctx, struct gnt_expo *x)
{
	(void)ctx;
	parked++;
	last_parked = x;
}

static void h_free(void *ctx, struct gnt_expo *x)
{
	(void)ctx;
	CHECK(x->file == &opened);
	freed++;
}

static struct gnt_core_ops hooked;

static struct gnt_core *core_with_hooks(void)
{
	struct gnt_limits lim = {.max_grant_frames = 4, .max_maptrack_frames = 4,
				 .max_pages = 1024};
	struct gnt_core *c;

	hooked = fake_ops;
	hooked.expo_open = h_open;
	hooked.expo_parked = h_parked;
	hooked.expo_free = h_free;
	c = gnt_core_create(&hooked, &fk, &lim);
	CHECK(c);
	return c;
}

struct env {
	struct gnt_core *c;
	struct gnt_domain *g, *m;
	uint64_t gfn;
};

static struct env setup(void)
{
	struct env e;
	e.c = core_with_hooks();
	e.g = fx_dom(e.c, "granter");
	e.m = fx_dom(e.c, "mapper");
	e.gfn = fx_alloc(e.c, e.g, 1);
	fx_grant(e.g, 8, e.m->id, e.gfn, GTF_permit_access);
	opened = freed = parked = 0;
	return e;
}

TEST(park_keeps_pins_until_settled)
{
	struct env e = setup();
	struct gnt_core_stats st;
	grant_handle_t h;

	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(opened, 1);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(parked, 1);
	CHECK_EQ(last_parked->state, GNT_EXPO_PARKED);
	/* the mapping is gone, the page is still held for it */
	CHECK_EQ(e.m->mt_used, 0);
	CHECK_EQ(fx_busy(e.g, 8), GTF_reading | GTF_writing);
	gnt_core_stats(e.c, &st);
	CHECK_EQ(st.exposures, 1);
	CHECK_EQ(st.pins, 0); /* Xen's count: no mapping */
	gnt_core_expo_settle(e.c, last_parked);
	CHECK_EQ(freed, 1);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	gnt_core_stats(e.c, &st);
	CHECK_EQ(st.exposures, 0);
	fx_destroy(e.c);
}

TEST(park_is_revived_by_a_new_map)
{
	struct env e = setup();
	grant_handle_t h;
	struct gnt_expo *x;

	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	x = last_parked;
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(opened, 1); /* the same exposure, no new file */
	CHECK_EQ(x->state, GNT_EXPO_LIVE);
	CHECK_EQ(x->handles, 1);
	/* settling a live exposure does nothing */
	gnt_core_expo_settle(e.c, x);
	CHECK_EQ(freed, 0);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	gnt_core_expo_settle(e.c, x);
	CHECK_EQ(freed, 1);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	fx_destroy(e.c);
}

TEST(lingering_exposure_is_never_revived)
{
	struct env e = setup();
	struct gnt_core_stats st;
	grant_handle_t h;
	struct gnt_expo *x;

	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	x = last_parked;
	gnt_core_expo_linger(e.c, x);
	CHECK_EQ(x->state, GNT_EXPO_LINGER);
	gnt_core_stats(e.c, &st);
	CHECK_EQ(st.lingering, 1);
	/* a new map gets a new exposure (a new file); both pin the entry */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RO, &h), GNTST_okay);
	CHECK_EQ(opened, 2);
	CHECK_EQ(gnt_core_active(e.g, 8)->xr, 2);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	gnt_core_expo_settle(e.c, last_parked);
	CHECK_EQ(fx_busy(e.g, 8), GTF_reading); /* the lingering one still holds it */
	gnt_core_expo_settle(e.c, x);
	CHECK_EQ(fx_busy(e.g, 8), 0);
	gnt_core_stats(e.c, &st);
	CHECK_EQ(st.lingering, 0);
	CHECK_EQ(st.exposures, 0);
	fx_destroy(e.c);
}

TEST(dead_mapper_leaves_parked_exposure_until_settled)
{
	struct env e = setup();
	uint16_t gid = e.g->id;
	grant_handle_t h;

	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	gnt__core_domain_release(e.c, e.m);
	CHECK_EQ(parked, 1);
	gnt__core_domain_release(e.c, e.g); /* the granter dies too: a zombie */
	CHECK(gnt_core_domain(e.c, gid) != NULL);
	gnt_core_expo_settle(e.c, last_parked);
	CHECK(gnt_core_domain(e.c, gid) == NULL); /* the last pin freed it */
	fx_destroy(e.c);
}

TEST(destroy_releases_parked_and_lingering)
{
	struct env e = setup();
	grant_handle_t h;

	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	gnt_core_expo_linger(e.c, last_parked);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	fx_destroy(e.c); /* checks every unit and table came back */
	CHECK_EQ(freed, 2);
}
