/* SPDX-License-Identifier: MIT */
/*
 * Teardown of a directory share (gnt/dir.h) in either order while the other
 * side is mapped, read-only and read-write: the donor ends first (every
 * buffer grant deferred, the recipient keeps reading and writing, gntd keeps
 * the frames; after the recipient unmaps the deferred ends complete and
 * gntd's accounting is back where it was before the share), and the
 * recipient unmaps first (the donor's end completes at once).
 */
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define NPAGES 64u

struct tctx {
	int ro, donor_first;
	uint32_t donor, recip;
	struct th_chan to_d, to_r, to_p; /* to the donor, recipient, parent */
};

static uint64_t tag(uint32_t i)
{
	return 0x7464776e00000000ull ^ ((uint64_t)i * 2654435761u);
}

static uint64_t *word(void *base, uint32_t i)
{
	return (uint64_t *)((char *)base + (size_t)i * 4096);
}

static int deferred_done(void *arg)
{
	(void)arg;
	gnt_deferred_poll();
	return gnt_deferred_count() == 0;
}

static void donor(void *p)
{
	struct tctx *s = p;
	struct gnt_dir_grant g;
	char *buf;

	th_send_u32(&s->to_p, 1); /* connected: the parent takes its snapshot */
	CHECK_EQ(th_recv_u32(&s->to_d), 1);
	buf = gnt_alloc_pages(NPAGES);
	CHECK(buf);
	for (uint32_t i = 0; i < NPAGES; i++)
		*word(buf, i) = tag(i);
	CHECK_EQ(gnt_dir_grant(&g, (domid_t)s->recip, buf, NPAGES, s->ro), 0);
	th_send_u32(&s->to_r, g.dir_ref);
	CHECK_EQ(th_recv_u32(&s->to_d), 2); /* the recipient maps */
	if (s->donor_first) {
		/* every buffer grant is mapped: all deferred; the directory was
		 * unmapped by the recipient's read, so it ends now */
		CHECK_EQ(gnt_dir_end(&g), NPAGES);
		CHECK_EQ(gnt_deferred_count(), NPAGES);
		gnt_free_pages(buf, NPAGES); /* the frames live while mapped */
		th_send_u32(&s->to_r, 3);
		CHECK_EQ(th_recv_u32(&s->to_d), 4); /* the recipient unmapped */
		CHECK(th_until(deferred_done, NULL, 20000));
	} else {
		CHECK_EQ(th_recv_u32(&s->to_d), 4);
		if (!s->ro) /* what the recipient wrote is in our buffer */
			for (uint32_t i = 0; i < NPAGES; i++)
				CHECK_EQ(*word(buf, i), ~tag(i));
		CHECK_EQ(gnt_dir_end(&g), 0);
		CHECK_EQ(gnt_deferred_count(), 0);
		gnt_free_pages(buf, NPAGES);
	}
	th_send_u32(&s->to_p, 5); /* everything ended and freed */
	CHECK_EQ(th_recv_u32(&s->to_d), 6);
}

static void use_pages(struct tctx *s, void *addr, uint64_t (*want)(uint32_t))
{
	for (uint32_t i = 0; i < NPAGES; i++) {
		if (*word(addr, i) != want(i))
			FAIL("page %u: %llx", i, (unsigned long long)*word(addr, i));
		if (!s->ro)
			*word(addr, i) = ~want(i);
	}
	CHECK_EQ(th_can_write(addr), !s->ro);
}

static uint64_t flipped(uint32_t i)
{
	return ~tag(i);
}

static void recipient(void *p)
{
	struct tctx *s = p;
	grant_ref_t dref;
	struct gnt_dir_map m;

	th_send_u32(&s->to_p, 1);
	dref = th_recv_u32(&s->to_r);
	CHECK_EQ(gnt_dir_map(&m, (domid_t)s->donor, dref, NPAGES, s->ro, 0), 0);
	use_pages(s, m.addr, tag);
	th_send_u32(&s->to_d, 2);
	if (s->donor_first) {
		CHECK_EQ(th_recv_u32(&s->to_r), 3); /* the donor has ended and freed */
		/* still ours: read (and write) after the donor's end */
		use_pages(s, m.addr, s->ro ? tag : flipped);
		th_send_u32(&s->to_p, 3);
		CHECK_EQ(th_recv_u32(&s->to_r), 4); /* the parent has looked */
	}
	CHECK_EQ(gnt_dir_unmap(&m, 0), 0);
	th_send_u32(&s->to_d, 4);
	CHECK_EQ(th_recv_u32(&s->to_r), 6);
}

static void teardown(int ro, int donor_first)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats()), before, mapped;
	struct tctx s = {.ro = ro, .donor_first = donor_first};
	pid_t pd, pr;

	s.donor = th_domain("td-donor");
	s.recip = th_domain("td-recip");
	th_chan_open(&s.to_d);
	th_chan_open(&s.to_r);
	th_chan_open(&s.to_p);
	pd = th_spawn(s.donor, donor, &s);
	pr = th_spawn(s.recip, recipient, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_p, pd) + th_recv_u32_from(&s.to_p, pr), 2);
	before = th_stats();
	th_send_u32(&s.to_d, 1);
	if (donor_first) {
		CHECK_EQ(th_recv_u32_from(&s.to_p, pr), 3);
		/* the donor ended and freed, yet gntd keeps the mapped unit */
		mapped = th_stats();
		CHECK_EQ(mapped.units, before.units + 1);
		CHECK_EQ(mapped.frames, before.frames + NPAGES);
		CHECK_EQ(mapped.mappings, before.mappings + NPAGES);
		th_send_u32(&s.to_r, 4);
	}
	CHECK_EQ(th_recv_u32_from(&s.to_p, pd), 5);
	/* both still running: back to where they were before the share */
	th_expect_stats(&before, 10000);
	th_send_u32(&s.to_d, 6);
	th_send_u32(&s.to_r, 6);
	CHECK_EQ(th_wait(pr), 0);
	CHECK_EQ(th_wait(pd), 0);
	th_chan_close(&s.to_d);
	th_chan_close(&s.to_r);
	th_chan_close(&s.to_p);
	th_expect_stats(&s0, 10000);
	th_gntd_stop();
}

TEST(dir_teardown_donor_first_ro) { teardown(1, 1); }
TEST(dir_teardown_donor_first_rw) { teardown(0, 1); }
TEST(dir_teardown_recipient_first_ro) { teardown(1, 0); }
TEST(dir_teardown_recipient_first_rw) { teardown(0, 0); }
