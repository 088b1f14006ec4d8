/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_exchange.c - XENMEM_exchange in the core: frames swapped
 * for new ones in both directions (many pages for one contiguous extent and
 * back), chunks done completely or not at all, nr_exchanged as progress and
 * resume point, accounting unchanged, and every error with Xen's code and no
 * change at all.
 */
#include "fixture.h"

#include <errno.h>
#include "core/transfer.h"

#define MADE_MAX 64

struct xr {
	long rc;
	uint64_t out[16];
	struct gnt_unit *made[MADE_MAX];
	uint32_t nmade;
};

static struct xen_memory_exchange xchg(uint64_t nin, uint32_t in_order, uint64_t nout,
				       uint32_t out_order)
{
	struct xen_memory_exchange x = {
		.in = {.nr_extents = nin, .extent_order = in_order, .domid = DOMID_SELF},
		.out = {.nr_extents = nout, .extent_order = out_order, .domid = DOMID_SELF},
	};
	return x;
}

static struct xr run(struct gnt_core *c, struct gnt_domain *d, struct xen_memory_exchange *x,
		     const uint64_t *in, uint32_t max_made)
{
	struct xr r;

	memset(&r, 0, sizeof(r));
	r.rc = gnt_core_exchange(c, d, x, in, r.out, r.made, max_made, &r.nmade);
	return r;
}

/* The call must fail with rc `want` and change nothing but nr_exchanged. */
static void fails(struct gnt_core *c, struct gnt_domain *d, struct xen_memory_exchange x,
		  const uint64_t *in, long want, int line)
{
	struct fx_snap s;
	struct xr r;

	fx_snap(c, &s);
	r = run(c, d, &x, in, MADE_MAX);
	if (r.rc != want)
		gnt__test_fail(__FILE__, line, "exchange: rc %ld, expected %ld", r.rc, want);
	if (!fx_snap_same(c, &s) || r.nmade)
		gnt__test_fail(__FILE__, line, "failed exchange (%ld) changed state", want);
}
#define FAILS(c, d, x, in, want) fails((c), (d), (x), (in), (want), __LINE__)

static bool gone(struct gnt_domain *d, const uint64_t *gfns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (gnt_core_unit_of_gfn(d, gfns[i], NULL))
			return false;
	return true;
}

TEST(exchange_pages_for_contiguous_extent)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "d");
	uint64_t in[4], tot;
	struct xen_memory_exchange x = xchg(4, 0, 1, 2);
	struct gnt_unit *u;
	struct xr r;

	for (int i = 0; i < 4; i++)
		in[i] = fx_alloc(c, d, 1);
	tot = d->tot_pages;
	r = run(c, d, &x, in, MADE_MAX);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 4);
	CHECK_EQ(r.nmade, 1);
	u = gnt_core_unit_of_gfn(d, r.out[0], NULL);
	CHECK(u == r.made[0]);
	CHECK_EQ(u->npages, 4);
	CHECK_EQ(u->base_gfn, r.out[0]);
	CHECK(gone(d, in, 4));
	CHECK_EQ(d->tot_pages, tot);
	CHECK_EQ(d->p2m_len, 1);
	/* and back: one 4-page extent for four single pages */
	in[0] = r.out[0];
	x = xchg(1, 2, 4, 0);
	r = run(c, d, &x, in, MADE_MAX);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 1);
	CHECK_EQ(r.nmade, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(gnt_core_unit_of_gfn(d, r.out[i], NULL)->npages, 1);
	CHECK(gone(d, in, 1));
	CHECK_EQ(d->tot_pages, tot);
	fx_destroy(c);
}

TEST(exchange_whole_multipage_unit_page_by_page)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "d");
	uint64_t b = fx_alloc(c, d, 2), in[2] = {b, b + 1};
	struct xen_memory_exchange x = xchg(2, 0, 1, 1);
	struct xr r = run(c, d, &x, in, MADE_MAX);

	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 2);
	CHECK(gone(d, in, 2));
	CHECK_EQ(gnt_core_unit_of_gfn(d, r.out[0], NULL)->npages, 2);
	fx_destroy(c);
}

TEST(exchange_errors_change_nothing)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "d"), *o = fx_dom(c, "other"), *m = fx_dom(c, "m");
	uint64_t p[2] = {fx_alloc(c, d, 1), fx_alloc(c, d, 1)};
	uint64_t b = fx_alloc(c, d, 2);
	uint64_t in[2];
	struct xen_memory_exchange x;

	(void)o;
	/* order above a domU's max_order (9): -EPERM, checked first */
	x = xchg(1, 10, 1, 10);
	FAILS(c, d, x, p, -EPERM);
	x = xchg(2, 0, 2, 0);
	x.in.domid = 0x7777;
	x.out.domid = 0x7777;
	FAILS(c, d, x, p, -ESRCH);
	x.in.domid = x.out.domid = o->id;
	FAILS(c, d, x, p, -EPERM);
	x = xchg(2, 0, 2, 0);
	x.out.domid = d->id; /* in.domid DOMID_SELF: not the same */
	FAILS(c, d, x, p, -EINVAL);
	x = xchg(2, 0, 1, 0); /* sizes differ */
	FAILS(c, d, x, p, -EINVAL);
	x = xchg(2, 0, 2, 0);
	x.nr_exchanged = 3;
	FAILS(c, d, x, p, -EINVAL);
	x = xchg(2, 0, 2, 0);
	x.out.mem_flags = 1u << 8; /* a NUMA node */
	FAILS(c, d, x, p, -EINVAL);
	x = xchg((uint64_t)1 << 60, 0, (uint64_t)1 << 55, 9); /* would overflow */
	FAILS(c, d, x, p, -EINVAL);
	/* bad inputs: -EINVAL, the chunk (here: all of it) undone */
	x = xchg(2, 0, 1, 1);
	in[0] = p[0], in[1] = 5;
	FAILS(c, d, x, in, -EINVAL);
	in[0] = p[0], in[1] = p[0]; /* the same page twice */
	FAILS(c, d, x, in, -EINVAL);
	in[0] = p[0], in[1] = b; /* half of a 2-page unit */
	FAILS(c, d, x, in, -EINVAL);
	in[0] = b + 1, in[1] = b; /* a unit out of order */
	FAILS(c, d, x, in, -EINVAL);
	x = xchg(1, 1, 1, 1);
	in[0] = b + 1; /* a unit not from its first page */
	FAILS(c, d, x, in, -EINVAL);
	/* a page somebody maps: Xen's steal_page refuses it */
	fx_grant(d, 10, m->id, p[1], GTF_permit_access);
	CHECK_EQ(fx_map(c, m, d->id, 10, FX_RO, NULL), GNTST_okay);
	x = xchg(2, 0, 1, 1);
	FAILS(c, d, x, p, -EINVAL);
	/* allocation failure: -ENOMEM */
	x = xchg(1, 1, 2, 0);
	in[0] = b;
	for (long k = 1; k <= 2; k++) { /* the first, or the second of the chunk */
		fk.fail_unit_alloc_at = fk.units_total + k;
		FAILS(c, d, x, in, -ENOMEM);
	}
	fk.fail_unit_alloc_at = 0;
	fx_destroy(c);
}

TEST(exchange_chunks_all_or_nothing)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "d");
	uint64_t in[4], tot, units;
	struct xen_memory_exchange x = xchg(4, 0, 2, 1);
	struct xr r;

	for (int i = 0; i < 4; i++)
		in[i] = fx_alloc(c, d, 1);
	in[3] = 5; /* the second chunk (pages 2 and 3) is bad */
	tot = d->tot_pages;
	units = d->p2m_len;
	r = run(c, d, &x, in, MADE_MAX);
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_EQ(x.nr_exchanged, 2); /* the first chunk only */
	CHECK_EQ(r.nmade, 1);
	CHECK(gone(d, in, 2));
	CHECK(gnt_core_unit_of_gfn(d, in[2], NULL) != NULL); /* untouched */
	CHECK_EQ(d->tot_pages, tot);
	CHECK_EQ(d->p2m_len, units - 2 + 1);
	/* resume from nr_exchanged with the fixed list */
	in[3] = fx_alloc(c, d, 1);
	r = run(c, d, &x, in, MADE_MAX);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 4);
	CHECK_EQ(r.nmade, 1);
	CHECK(r.out[0] == 0 && r.out[1] != 0); /* only the chunk done now */
	CHECK(gone(d, in, 4));
	CHECK_EQ(d->tot_pages, tot + 1); /* in[3]'s new page, nothing else */
	/* done already: nothing happens */
	r = run(c, d, &x, in, MADE_MAX);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.nmade, 0);
	fx_destroy(c);
}

TEST(exchange_stops_when_reply_full)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d = fx_dom(c, "d");
	uint64_t in[3];
	struct xen_memory_exchange x = xchg(3, 0, 3, 0);
	struct xr r;

	for (int i = 0; i < 3; i++)
		in[i] = fx_alloc(c, d, 1);
	r = run(c, d, &x, in, 2);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 2);
	CHECK_EQ(r.nmade, 2);
	r = run(c, d, &x, in, 2);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(x.nr_exchanged, 3);
	CHECK_EQ(r.nmade, 1);
	CHECK(gone(d, in, 3));
	/* a chunk that needs more units than a reply carries */
	in[0] = fx_alloc(c, d, 4);
	x = xchg(1, 2, 4, 0);
	r = run(c, d, &x, in, 2);
	CHECK_EQ(r.rc, -ENOMEM);
	CHECK_EQ(x.nr_exchanged, 0);
	fx_destroy(c);
}

TEST(exchange_dom0_larger_order)
{
	struct gnt_core *c = fx_core();
	struct gnt_domain *d0 = gnt_core_domain(c, 0);
	struct xen_memory_exchange x = xchg(0, 10, 0, 10);
	struct xr r = run(c, d0, &x, NULL, MADE_MAX);

	/* the control domain's max_order is 18; nothing to do is success */
	CHECK_EQ(r.rc, 0);
	x = xchg(0, 19, 0, 19);
	r = run(c, d0, &x, NULL, MADE_MAX);
	CHECK_EQ(r.rc, -EPERM);
	fx_destroy(c);
}
