/* SPDX-License-Identifier: MIT */
/* The handle_release hook (gntd's unmap notify): called once per released
 * maptrack entry, while its entry, pin and exposure still stand. */
#include "fixture.h"

static struct gnt_core_ops hooked;
static struct gnt_domain *granter;
static grant_ref_t granted;
static int calls;
static uint32_t last_handle;
static uint16_t last_dom;

static void on_release(void *ctx, struct gnt_domain *self, uint32_t h)
{
	(void)ctx;
	calls++;
	last_handle = h;
	last_dom = self->id;
	CHECK(h < self->mt_len && self->mt[h].flags); /* entry still live */
	CHECK(self->mt[h].expo && self->mt[h].expo->handles > 0);
	CHECK(fx_pins(granter, granted) > 0); /* pin still held */
	CHECK(fx_busy(granter, granted));
}

static struct gnt_core *core_hooked(void)
{
	struct gnt_limits lim = {
	    .max_grant_frames = 4, .max_maptrack_frames = 4, .max_pages = 1024};
	struct gnt_core *c;

	hooked = fake_ops;
	hooked.handle_release = on_release;
	c = gnt_core_create(&hooked, &fk, &lim);
	CHECK(c);
	return c;
}

TEST(handle_release_hook_on_unmap_before_unpin)
{
	struct gnt_core *c = core_hooked();
	struct gnt_domain *g = fx_dom(c, "g"), *m = fx_dom(c, "m");
	uint64_t gfn = fx_alloc(c, g, 1);
	grant_handle_t h;

	granter = g;
	granted = 8;
	fx_grant(g, 8, m->id, gfn, GTF_permit_access);
	CHECK(fx_map(c, m, g->id, 9, FX_RW, &h) != GNTST_okay); /* failed map */
	CHECK_EQ(calls, 0);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RW, &h), GNTST_okay);
	CHECK_EQ(calls, 0);
	CHECK_EQ(fx_unmap(c, m, h + 1, 0, 0), GNTST_bad_handle);
	CHECK_EQ(fx_unmap(c, m, h, 1, 0), GNTST_bad_virt_addr); /* refused: no call */
	CHECK_EQ(calls, 0);
	CHECK_EQ(fx_unmap(c, m, h, 0, 0), GNTST_okay);
	CHECK_EQ(calls, 1);
	CHECK_EQ(last_handle, h);
	CHECK_EQ(last_dom, m->id);
	CHECK_EQ(fx_pins(g, 8), 0u);
	CHECK_EQ(fx_unmap(c, m, h, 0, 0), GNTST_bad_handle);
	CHECK_EQ(calls, 1);
	fx_destroy(c);
}

TEST(handle_release_hook_on_mapper_domain_release)
{
	struct gnt_core *c = core_hooked();
	struct gnt_domain *g = fx_dom(c, "g"), *m = fx_dom(c, "m");
	uint64_t gfn = fx_alloc(c, g, 1);
	grant_handle_t h1, h2;

	granter = g;
	granted = 8;
	fx_grant(g, 8, m->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RW, &h1), GNTST_okay);
	CHECK_EQ(fx_map(c, m, g->id, 8, FX_RO, &h2), GNTST_okay);
	gnt__core_domain_release(c, m);
	CHECK_EQ(calls, 2);
	CHECK_EQ(fx_pins(g, 8), 0u);
	fx_destroy(c);
}
