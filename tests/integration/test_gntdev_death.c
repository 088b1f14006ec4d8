/* SPDX-License-Identifier: MIT */
/*
 * gntdev mappings and gntalloc shares belong to the process that made them
 * (gnt/gntdev.h): when it is SIGKILLed, or unshares, while its domain lives
 * on, gntd unmaps its mappings and ends its shares, each grant as soon as
 * the peer stops mapping it, and the pages after the last one; gntd's
 * accounting returns to the domain's baseline.  The limits are the
 * domain's: every process of it counts against one gntalloc limit.
 *
 * Domain A's `peer` shares pages with B and maps B's shares; domain B's
 * `keeper` keeps B alive; B's `victim` maps A's shares and shares its own.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/gntdev.h"

#define NA 3 /* pages of A's share the victim maps */
#define NV 2 /* pages of the victim's share A maps */

enum mode { M_KILL, M_UNSHARE };

struct gd {
	struct th_chan to_peer, to_keeper, to_victim, to_t;
	uint32_t a, b;
	enum mode mode;
};

static void fill(uint8_t *p, uint32_t pages, uint8_t v)
{
	memset(p, v, (size_t)pages * GNT_PAGE_SIZE);
}

static int all(const uint8_t *p, uint32_t pages, uint8_t v)
{
	for (size_t i = 0; i < (size_t)pages * GNT_PAGE_SIZE; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void peer(void *arg)
{
	struct gd *g = arg;
	uint32_t refs[NA], vrefs[NV], doms[NV];
	uint8_t *mine = gnt_gntalloc_share(g->b, NA, refs, 1), *theirs;

	CHECK(mine);
	fill(mine, NA, 0xA1);
	th_send_u32(&g->to_t, 0); /* shared */
	th_send(&g->to_victim, refs, sizeof(refs));
	th_recv(&g->to_peer, vrefs, sizeof(vrefs));
	for (int i = 0; i < NV; i++)
		doms[i] = g->b;
	theirs = gnt_gntdev_map(NV, doms, vrefs, 1, NULL);
	CHECK(theirs);
	CHECK(all(theirs, NV, 0xB2));
	th_send_u32(&g->to_t, 1); /* mapped */
	CHECK_EQ(th_recv_u32(&g->to_peer), 2); /* the victim is dead / unshared */
	/* the victim's pages stay valid while we map them */
	CHECK(all(theirs, NV, 0xB2));
	fill(theirs, NV, 0xC3);
	CHECK(all(theirs, NV, 0xC3));
	/* the victim's mapping of ours is gone: our grant can end now */
	th_send_u32(&g->to_t, 3);
	CHECK_EQ(th_recv_u32(&g->to_peer), 4);
	CHECK_EQ(gnt_gntdev_unmap(theirs, NV), 0);
	th_send_u32(&g->to_t, 5); /* unmapped */
	CHECK_EQ(th_recv_u32(&g->to_peer), 6);
	CHECK_EQ(gnt_gntalloc_unshare(mine, NA), 0);
}

static void keeper(void *arg)
{
	struct gd *g = arg;

	CHECK_EQ(gnt_open(), 0);
	th_send_u32(&g->to_t, 1);
	CHECK_EQ(th_recv_u32(&g->to_keeper), 2);
}

static void victim(void *arg)
{
	struct gd *g = arg;
	uint32_t refs[NA], doms[NA], vrefs[NV], one;
	uint8_t *m1, *m2, *s1, *s2;

	th_recv(&g->to_victim, refs, sizeof(refs));
	for (int i = 0; i < NA; i++)
		doms[i] = g->a;
	/* two mappings (NA-1 pages and 1), two shares (NV pages to A, 1 to A
	 * that nobody maps) */
	m1 = gnt_gntdev_map(NA - 1, doms, refs, 1, NULL);
	m2 = gnt_gntdev_map(1, doms, refs + NA - 1, 0, NULL);
	CHECK(m1 && m2);
	CHECK(all(m1, NA - 1, 0xA1) && all(m2, 1, 0xA1));
	s1 = gnt_gntalloc_share(g->a, NV, vrefs, 1);
	s2 = gnt_gntalloc_share(g->a, 1, &one, 0);
	CHECK(s1 && s2);
	fill(s1, NV, 0xB2);
	th_send(&g->to_peer, vrefs, sizeof(vrefs));
	CHECK_EQ(th_recv_u32(&g->to_victim), 1); /* the peer maps s1 */
	if (g->mode == M_UNSHARE) {
		CHECK_EQ(gnt_gntdev_unmap(m1, NA - 1), 0);
		CHECK_EQ(gnt_gntdev_unmap(m2, 1), 0);
		CHECK_EQ(gnt_gntalloc_unshare(s1, NV), 0);
		CHECK_EQ(gnt_gntalloc_unshare(s2, 1), 0);
		th_send_u32(&g->to_t, 9);
	} else {
		th_send_u32(&g->to_t, 9);
	}
	/* wait to be killed (M_KILL) or told to go */
	CHECK_EQ(th_recv_u32(&g->to_victim), 2);
}

/* pins: whether any (a mapped unit's exposure pins every page of it, so
 * the number depends on how it is mapped) */
struct want {
	uint32_t dom;
	uint32_t mappings, entries;
	bool pins;
};

static int dom_is(void *arg)
{
	const struct want *w = arg;
	struct gnt_domain_info i = th_dominfo(w->dom);

	return i.mappings == w->mappings && (i.pins != 0) == w->pins &&
	       i.entries_in_use == w->entries;
}

static void expect_dom(uint32_t dom, uint32_t mappings, bool pins, uint32_t entries)
{
	struct want w = {dom, mappings, entries, pins};
	struct gnt_domain_info i;

	th_until(dom_is, &w, 5000);
	i = th_dominfo(dom);
	CHECK_EQ(i.state, 1);
	CHECK_EQ(i.mappings, mappings);
	CHECK_EQ(i.pins != 0, pins);
	CHECK_EQ(i.entries_in_use, entries);
}

static void run(enum mode mode)
{
	struct gd g = {.mode = mode};
	struct gnt_hv_stats base;
	struct gnt_domain_info a0, b0;
	uint32_t in_use = 99;
	pid_t pp, pk, pv;

	th_chan_open(&g.to_peer);
	th_chan_open(&g.to_keeper);
	th_chan_open(&g.to_victim);
	th_chan_open(&g.to_t);
	th_gntd_start();
	g.a = th_domain("a");
	g.b = th_domain("b");
	pk = th_spawn(g.b, keeper, &g);
	CHECK_EQ(th_recv_u32(&g.to_t), 1);
	pp = th_spawn(g.a, peer, &g);
	CHECK_EQ(th_recv_u32(&g.to_t), 0);
	/* baseline: the domains, the keeper and A's share; nothing of the victim */
	base = th_stats();
	pv = th_spawn(g.b, victim, &g);
	CHECK_EQ(th_recv_u32(&g.to_t), 1); /* the peer maps the victim's share */
	th_send_u32(&g.to_victim, 1);
	CHECK_EQ(th_recv_u32_from(&g.to_t, pv), 9);
	a0 = th_dominfo(g.a);
	b0 = th_dominfo(g.b);
	if (mode == M_KILL) {
		CHECK_EQ(b0.mappings, NA);
		CHECK(a0.pins >= NA);
		CHECK_EQ(b0.entries_in_use, NV + 1);
		CHECK_EQ(gnt_gntdev_domain_limits(g.b, 0, 0, NULL, NULL, &in_use), 0);
		CHECK_EQ(in_use, NV + 1);
		kill(pv, SIGKILL);
		CHECK_EQ(th_wait(pv), 128 + SIGKILL);
	}
	/* the victim's mappings are gone, A's grants free again; the victim's
	 * share the peer maps stays granted (pinned), the other one ended */
	/* (at v2 an end of access invalidates the entry at once, as Linux's
	 * v2 code does, while the pin holds the page) */
	expect_dom(g.b, 0, true, th_grant_version() == 2 ? 0 : NV);
	expect_dom(g.a, NV, false, NA);
	CHECK_EQ(gnt_gntdev_domain_limits(g.b, 0, 0, NULL, NULL, &in_use), 0);
	CHECK_EQ(in_use, 0);
	th_send_u32(&g.to_peer, 2);
	CHECK_EQ(th_recv_u32(&g.to_t), 3);
	th_send_u32(&g.to_peer, 4);
	CHECK_EQ(th_recv_u32(&g.to_t), 5);
	/* the peer let go: the victim's share ends, its pages are freed */
	expect_dom(g.b, 0, false, 0);
	expect_dom(g.a, 0, false, NA);
	if (mode == M_UNSHARE) {
		th_send_u32(&g.to_victim, 2);
		CHECK_EQ(th_wait(pv), 0);
	}
	th_expect_stats(&base, 5000);
	th_send_u32(&g.to_peer, 6);
	CHECK_EQ(th_wait(pp), 0);
	th_send_u32(&g.to_keeper, 2);
	CHECK_EQ(th_wait(pk), 0);
	th_chan_close(&g.to_peer);
	th_chan_close(&g.to_keeper);
	th_chan_close(&g.to_victim);
	th_chan_close(&g.to_t);
	th_gntd_stop();
}

TEST(gntdev_sigkill_releases_mappings_and_shares)
{
	run(M_KILL);
}

TEST(gntdev_unshare_while_mapped_ends_after_peer_unmaps)
{
	run(M_UNSHARE);
}

/* ---- the limits are the domain's ------------------------------------------ */

struct lim {
	struct th_chan to_p1, to_p2, to_t;
	uint32_t a, b;
};

static void lim_p1(void *arg)
{
	struct lim *l = arg;
	uint32_t refs[2];

	CHECK_EQ(gnt_gntalloc_set_limit(3), 0);
	CHECK(gnt_gntalloc_share(l->a, 2, refs, 1));
	th_send_u32(&l->to_t, 1);
	CHECK_EQ(th_recv_u32(&l->to_p1), 99); /* killed before */
}

static void lim_p2(void *arg)
{
	struct lim *l = arg;
	uint32_t refs[3] = {8, 9, 10}, doms[3] = {l->a, l->a, l->a};
	int16_t st[3] = {99, 99, 99};

	/* p1's limit and p1's shares count here too */
	CHECK_EQ(gnt_gntalloc_limit(), 3);
	CHECK_EQ(gnt_gntalloc_in_use(), 2);
	errno = 0;
	CHECK(!gnt_gntalloc_share(l->a, 2, refs, 1));
	CHECK_EQ(errno, ENOSPC);
	CHECK(gnt_gntalloc_share(l->a, 1, refs, 1));
	CHECK_EQ(gnt_gntalloc_in_use(), 3);
	th_send_u32(&l->to_t, 2);
	CHECK_EQ(th_recv_u32(&l->to_p2), 3); /* dom0 raised it to 5, gntdev's to 2 */
	CHECK_EQ(gnt_gntalloc_limit(), 5);
	CHECK(gnt_gntalloc_share(l->a, 2, refs, 1));
	CHECK_EQ(gnt_gntdev_limit(), 2);
	/* over the per-request limit the whole request is refused: no
	 * grant was even looked at (status untouched) */
	CHECK(!gnt_gntdev_map(3, doms, refs, 1, st));
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(st[0], 99);
	CHECK(!gnt_gntdev_map(2, doms, refs, 1, st)); /* not granted to us */
	CHECK_EQ(errno, EINVAL);
	CHECK(st[0] != 99);
	/* another domain's limits are dom0's business */
	CHECK_EQ(gnt_gntdev_domain_limits(l->a, 0, 0, NULL, NULL, NULL), -EPERM);
	CHECK_EQ(gnt_gntdev_domain_limits(l->b, 7, 0, NULL, NULL, NULL), 0); /* our own id */
	CHECK_EQ(gnt_gntalloc_limit(), 7);
	th_send_u32(&l->to_t, 4);
	CHECK_EQ(th_recv_u32(&l->to_p2), 5);
	/* p1 died: its 2 go once gntd has seen its connection close, which
	 * may come after our request */
	for (int t = 0; t < 5000 && gnt_gntalloc_in_use() != 3; t++)
		usleep(1000);
	CHECK_EQ(gnt_gntalloc_in_use(), 3);
}

TEST(gntdev_limits_are_per_domain_and_changeable)
{
	struct lim l;
	struct gnt_hv_stats start;
	uint32_t al = 0, dl = 0, iu = 0;
	pid_t p1, p2;

	th_chan_open(&l.to_p1);
	th_chan_open(&l.to_p2);
	th_chan_open(&l.to_t);
	th_gntd_start();
	start = th_stats();
	l.a = th_domain("a");
	l.b = th_domain("b");
	CHECK_EQ(gnt_gntdev_domain_limits(l.b, 0, 0, &al, &dl, &iu), 0);
	CHECK_EQ(al, GNT_GNTALLOC_LIMIT_DEFAULT);
	CHECK_EQ(dl, GNT_GNTDEV_LIMIT_DEFAULT);
	CHECK_EQ(iu, 0);
	p1 = th_spawn(l.b, lim_p1, &l);
	CHECK_EQ(th_recv_u32(&l.to_t), 1);
	p2 = th_spawn(l.b, lim_p2, &l);
	CHECK_EQ(th_recv_u32(&l.to_t), 2);
	CHECK_EQ(gnt_gntdev_domain_limits(l.b, 0, 65537, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(gnt_gntdev_domain_limits(0x7000, 5, 0, NULL, NULL, NULL), -ESRCH);
	CHECK_EQ(gnt_gntdev_domain_limits(l.b, 5, 2, &al, &dl, &iu), 0);
	CHECK_EQ(al, 5);
	CHECK_EQ(dl, 2);
	CHECK_EQ(iu, 3);
	th_send_u32(&l.to_p2, 3);
	CHECK_EQ(th_recv_u32(&l.to_t), 4);
	kill(p1, SIGKILL);
	CHECK_EQ(th_wait(p1), 128 + SIGKILL);
	th_send_u32(&l.to_p2, 5);
	CHECK_EQ(th_wait(p2), 0);
	CHECK_EQ(gnt_domain_destroy(l.a), 0); /* it never had a process */
	th_expect_stats(&start, 5000);
	th_chan_close(&l.to_p1);
	th_chan_close(&l.to_p2);
	th_chan_close(&l.to_t);
	th_gntd_stop();
}
