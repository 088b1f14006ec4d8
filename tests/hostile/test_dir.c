/* SPDX-License-Identifier: MIT */
/*
 * Hostile grant-reference directories: a donor that writes loops, chains
 * longer or shorter than announced, refs out of range or granted to someone
 * else, or rewrites its directory while the recipient maps it.  Each is a
 * clean error in gnt_dir_map, nothing stays mapped, nothing leaks.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define BUF_PAGES 4
#define BAD_REF 0x7ffffff0u

struct hd {
	struct th_chan to_d, to_r, to_p, hold;
	uint32_t donor, recip, third;
	grant_ref_t b[BUF_PAGES], d[3], t; /* buffer, directory, granted to third */
	struct gnt_page_directory *dir;
	volatile int stop;
};

struct hcase {
	const char *what;
	uint32_t npages;
	int expect_rc;
	int16_t expect_status;
};

enum { C_LOOP, C_SELF_LOOP, C_LONGER, C_SHORTER, C_BAD_BUF_REF, C_BAD_NEXT, C_NOT_OURS,
       C_DIR_NOT_OURS, C_GOOD, C_COUNT };

static const struct hcase cases[C_COUNT] = {
	[C_LOOP] = {"loop d0 -> d1 -> d0", 1500, -EPROTO, 0},
	[C_SELF_LOOP] = {"loop d0 -> d0", 2000, -EPROTO, 0},
	[C_LONGER] = {"longer than announced", BUF_PAGES, -EPROTO, 0},
	[C_SHORTER] = {"shorter than announced", 1500, -EPROTO, 0},
	[C_BAD_BUF_REF] = {"buffer ref out of range", BUF_PAGES, -EIO, GNTST_bad_gntref},
	[C_BAD_NEXT] = {"next ref out of range", 1500, -EIO, GNTST_bad_gntref},
	[C_NOT_OURS] = {"buffer ref granted to another domain", BUF_PAGES, -EIO,
			GNTST_general_error},
	[C_DIR_NOT_OURS] = {"directory ref granted to another domain", BUF_PAGES, -EIO,
			    GNTST_general_error},
	[C_GOOD] = {"well-formed", BUF_PAGES, 0, 0},
};

/* Buffer refs b[] repeated to fill npages (a ref may appear twice). */
static void fill(struct hd *s, struct gnt_page_directory *p, uint32_t first, uint32_t n)
{
	for (uint32_t j = 0; j < GNT_DIR_REFS_PER_PAGE; j++)
		p->gref[j] = first + j < n ? s->b[(first + j) % BUF_PAGES] : 0;
}

/* Write case k into the directory pages; returns the ref to send. */
static grant_ref_t build(struct hd *s, int k)
{
	struct gnt_page_directory *d0 = s->dir, *d1 = s->dir + 1;
	uint32_t n = cases[k].npages;

	fill(s, d0, 0, n);
	fill(s, d1, GNT_DIR_REFS_PER_PAGE, n);
	d0->gref_dir_next_page = n > GNT_DIR_REFS_PER_PAGE ? s->d[1] : 0;
	d1->gref_dir_next_page = 0;
	switch (k) {
	case C_LOOP: d1->gref_dir_next_page = s->d[0]; break;
	case C_SELF_LOOP: d0->gref_dir_next_page = s->d[0]; break;
	case C_LONGER: d0->gref_dir_next_page = s->d[1]; break;
	case C_SHORTER: d0->gref_dir_next_page = 0; break;
	case C_BAD_BUF_REF: d0->gref[2] = BAD_REF; break;
	case C_BAD_NEXT: d0->gref_dir_next_page = BAD_REF; break;
	case C_NOT_OURS: d0->gref[1] = s->t; break;
	case C_DIR_NOT_OURS: return s->t;
	}
	return s->d[0];
}

static void grant_all(struct hd *s)
{
	char *buf = gnt_alloc_pages(BUF_PAGES), *other = gnt_alloc_page();

	s->dir = gnt_alloc_pages(3);
	CHECK(buf && other && s->dir);
	for (int i = 0; i < BUF_PAGES; i++) {
		*(uint64_t *)(buf + i * 4096) = 0xb0f0 + (uint64_t)i;
		s->b[i] = (grant_ref_t)gnt_grant_foreign_access((domid_t)s->recip,
								gnt_virt_to_gfn(buf + i * 4096), 1);
	}
	for (int i = 0; i < 3; i++)
		s->d[i] = (grant_ref_t)gnt_grant_foreign_access(
			(domid_t)s->recip, gnt_virt_to_gfn((char *)s->dir + i * 4096), 1);
	s->t = (grant_ref_t)gnt_grant_foreign_access((domid_t)s->third, gnt_virt_to_gfn(other), 1);
}

static void bad_donor(void *p)
{
	struct hd *s = p;

	grant_all(s);
	for (int k = 0; k < C_COUNT; k++) {
		th_send_u32(&s->to_r, build(s, k));
		CHECK_EQ(th_recv_u32(&s->to_d), 1); /* the parent has checked */
	}
	/* exit: the domain's death ends everything */
}

static void careful_recipient(void *p)
{
	struct hd *s = p;

	for (int k = 0; k < C_COUNT; k++) {
		grant_ref_t ref = th_recv_u32(&s->to_r);
		struct gnt_dir_map m;
		int rc = gnt_dir_map(&m, (domid_t)s->donor, ref, cases[k].npages, 1, 0);
		if (rc != cases[k].expect_rc || (rc == -EIO && m.status != cases[k].expect_status))
			FAIL("%s: rc %d status %d", cases[k].what, rc, m.status);
		if (rc == 0) {
			for (uint32_t i = 0; i < cases[k].npages; i++)
				CHECK_EQ(*(uint64_t *)((char *)m.addr + (size_t)i * 4096),
					 0xb0f0 + i % BUF_PAGES);
			CHECK_EQ(gnt_dir_unmap(&m, 0), 0);
		}
		th_send_u32(&s->to_p, (uint32_t)k);
		th_recv_u32(&s->to_r); /* alive until the parent has looked */
	}
}

/* The third domain lives (it has a process) until the test lets it go. */
static void hold_third(void *p)
{
	th_recv_u32(&((struct hd *)p)->hold);
}

static void setup(struct hd *s)
{
	memset(s, 0, sizeof(*s));
	s->donor = th_domain("hd-donor");
	s->recip = th_domain("hd-recip");
	s->third = th_domain("hd-third");
	th_chan_open(&s->to_d);
	th_chan_open(&s->to_r);
	th_chan_open(&s->to_p);
	th_chan_open(&s->hold);
}

static void teardown(struct hd *s)
{
	th_chan_close(&s->to_d);
	th_chan_close(&s->to_r);
	th_chan_close(&s->to_p);
	th_chan_close(&s->hold);
}

TEST(hostile_dir_malformed_chains_and_refs)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct hd s;
	pid_t pd, pr, pt;

	setup(&s);
	pt = th_spawn(s.third, hold_third, &s);
	pd = th_spawn(s.donor, bad_donor, &s);
	pr = th_spawn(s.recip, careful_recipient, &s);
	for (int k = 0; k < C_COUNT; k++) {
		CHECK_EQ(th_recv_u32_from(&s.to_p, pr), (uint32_t)k);
		/* nothing mapped that was not granted, nothing left mapped */
		CHECK_EQ(th_dominfo(s.recip).mappings, 0);
		th_send_u32(&s.to_r, 0); /* before the donor's next ref */
		th_send_u32(&s.to_d, 1);
	}
	CHECK_EQ(th_wait(pr), 0);
	CHECK_EQ(th_wait(pd), 0);
	th_send_u32(&s.hold, 0);
	CHECK_EQ(th_wait(pt), 0);
	th_expect_stats(&s0, 10000);
	teardown(&s);
	th_gntd_stop();
}

/* ---- the donor rewrites its directory while the recipient maps -------- */

/* Flip between a directory that names only our buffer pages (in a new
 * order each time) and one with a single bad value (a ref granted to the
 * third domain, a ref beyond the table, or a chain that goes on), each kept
 * for a stretch of rewrites, so that a recipient's snapshot lands on either
 * kind often: both outcomes are seen, and a success is checked page by page. */
static void *scribble(void *p)
{
	struct hd *s = p;
	struct gnt_page_directory *d0 = s->dir;

	for (uint32_t i = 0; !s->stop; i++) {
		uint32_t phase = i / 64, j = i % BUF_PAGES;
		if (phase % 2 == 0) {
			__atomic_store_n(&d0->gref[j], s->b[(j + phase / 2) % BUF_PAGES],
					 __ATOMIC_RELAXED);
			__atomic_store_n(&d0->gref_dir_next_page, 0, __ATOMIC_RELAXED);
		} else if (phase % 6 == 5) {
			__atomic_store_n(&d0->gref_dir_next_page, s->d[1], __ATOMIC_RELAXED);
		} else {
			__atomic_store_n(&d0->gref[j], phase % 6 == 1 ? s->t : BAD_REF,
					 __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void racing_donor(void *p)
{
	struct hd *s = p;
	pthread_t t;

	grant_all(s);
	build(s, C_GOOD);
	CHECK_EQ(pthread_create(&t, NULL, scribble, s), 0);
	th_send_u32(&s->to_r, s->d[0]);
	th_recv_u32(&s->to_d);
	s->stop = 1;
	pthread_join(t, NULL);
}

static void racing_recipient(void *p)
{
	struct hd *s = p;
	grant_ref_t ref = th_recv_u32(&s->to_r);
	int ok = 0, failed = 0, round;

	/* until both outcomes were seen (each about half the time), bounded */
	for (round = 0; round < 20000 && (ok < 20 || failed < 20); round++) {
		struct gnt_dir_map m;
		int rc = gnt_dir_map(&m, (domid_t)s->donor, ref, BUF_PAGES, 1, 0);
		if (rc == -EIO || rc == -EPROTO) {
			failed++;
			continue;
		}
		CHECK_EQ(rc, 0);
		ok++;
		/* whatever the snapshot named, each page is one the donor granted us */
		for (uint32_t i = 0; i < BUF_PAGES; i++) {
			uint64_t v = *(uint64_t *)((char *)m.addr + (size_t)i * 4096);
			if (v < 0xb0f0 || v >= 0xb0f0 + BUF_PAGES)
				FAIL("page %u holds %llx", i, (unsigned long long)v);
		}
		CHECK_EQ(gnt_dir_unmap(&m, 0), 0);
	}
	/* the race was exercised both ways: never vacuous */
	CHECK(failed > 0);
	CHECK(ok > 0);
	CHECK(ok + failed == round);
	th_send_u32(&s->to_p, 1);
	th_recv_u32(&s->to_r);
}

TEST(hostile_dir_rewritten_while_mapped)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct hd s;
	pid_t pd, pr, pt;

	setup(&s);
	pt = th_spawn(s.third, hold_third, &s);
	pd = th_spawn(s.donor, racing_donor, &s);
	pr = th_spawn(s.recip, racing_recipient, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_p, pr), 1);
	CHECK_EQ(th_dominfo(s.recip).mappings, 0);
	th_send_u32(&s.to_r, 0);
	th_send_u32(&s.to_d, 1);
	CHECK_EQ(th_wait(pr), 0);
	CHECK_EQ(th_wait(pd), 0);
	th_send_u32(&s.hold, 0);
	CHECK_EQ(th_wait(pt), 0);
	th_expect_stats(&s0, 10000);
	teardown(&s);
	th_gntd_stop();
}
