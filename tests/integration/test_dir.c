/* SPDX-License-Identifier: MIT */
/*
 * Grant-reference directories (gnt/dir.h) between real domains: one ref
 * shares N pages, read-only or read-write, in both directions (a domain's
 * buffer mapped by dom0, dom0's buffer mapped by a domain), with the
 * hypercalls of each side counted exactly, and teardown in either order.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"

#define GIB_PAGES 262144u

struct dcase {
	uint32_t npages, batch;
	int ro;
};

struct dctx {
	struct dcase c;
	struct th_chan to_d, to_r;
	uint32_t donor, recip;
};

static uint64_t tag(uint32_t i)
{
	return 0x6764697200000000ull ^ ((uint64_t)i * 2654435761u);
}

static uint64_t *word(void *base, uint32_t i)
{
	return (uint64_t *)((char *)base + (size_t)i * 4096);
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

static void donor(void *p)
{
	struct dctx *s = p;
	uint32_t n = s->c.npages;
	char *buf = gnt_alloc_pages(n);
	struct gnt_dir_grant g;
	uint64_t h0;

	CHECK(buf);
	for (uint32_t i = 0; i < n; i++) {
		*word(buf, i) = tag(i);
		buf[(size_t)i * 4096 + 4095] = (char)i;
	}
	{
		/* memory that is not the domain's: refused */
		char *heap = aligned_alloc(4096, 2 * 4096);
		CHECK(heap);
		CHECK_EQ(gnt_dir_grant(&g, (domid_t)s->recip, heap, 2, 1), -EINVAL);
		free(heap);
	}
	h0 = gnt_hypercall_count();
	CHECK_EQ(gnt_dir_grant(&g, (domid_t)s->recip, buf, n, s->c.ro), 0);
	/* one setup_table to grow the table for all refs, one populate for the
	 * directory pages; the grants themselves are table writes */
	CHECK_EQ(gnt_hypercall_count() - h0, 2);
	CHECK_EQ(g.ndir, div_up(n, 1023));
	th_send_u32(&s->to_r, g.dir_ref); /* the one message */
	CHECK_EQ(th_recv_u32(&s->to_d), 1);
	for (uint32_t i = 0; i < n; i++)
		if (*word(buf, i) != (s->c.ro ? tag(i) : ~tag(i)))
			FAIL("page %u: %llx", i, (unsigned long long)*word(buf, i));
	CHECK_EQ(gnt_dir_end(&g), 0);
	gnt_free_pages(buf, n);
}

static void recipient(void *p)
{
	struct dctx *s = p;
	uint32_t n = s->c.npages, b = s->c.batch;
	grant_ref_t dref = th_recv_u32(&s->to_r);
	struct gnt_dir_map m;
	uint64_t h0 = gnt_hypercall_count();

	CHECK_EQ(gnt_dir_map(&m, (domid_t)s->donor, dref, n, s->c.ro, b), 0);
	/* the directory: one map (consecutive refs), one unmap; the buffer:
	 * ceil(N/B) maps */
	CHECK_EQ(gnt_hypercall_count() - h0, 2 + div_up(n, b));
	for (uint32_t i = 0; i < n; i++) {
		if (*word(m.addr, i) != tag(i) || ((char *)m.addr)[(size_t)i * 4096 + 4095] != (char)i)
			FAIL("page %u: %llx", i, (unsigned long long)*word(m.addr, i));
		if (!s->c.ro)
			*word(m.addr, i) = ~tag(i);
	}
	CHECK_EQ(th_can_write(m.addr), !s->c.ro);
	CHECK_EQ(th_can_write((char *)m.addr + (size_t)(n - 1) * 4096), !s->c.ro);
	h0 = gnt_hypercall_count();
	CHECK_EQ(gnt_dir_unmap(&m, b), 0);
	CHECK_EQ(gnt_hypercall_count() - h0, div_up(n, b));
	th_send_u32(&s->to_d, 1);
}

/* donor_dom0/recip_dom0: which side dom0 plays (dom0 = this test's domain) */
static void run_case(struct dctx *s, int donor_dom0, int recip_dom0)
{
	pid_t pd, pr;

	th_chan_open(&s->to_d);
	th_chan_open(&s->to_r);
	pd = donor_dom0 ? th_spawn_dom0(donor, s) : th_spawn(s->donor, donor, s);
	pr = recip_dom0 ? th_spawn_dom0(recipient, s) : th_spawn(s->recip, recipient, s);
	CHECK_EQ(th_wait(pr), 0);
	CHECK_EQ(th_wait(pd), 0);
	th_chan_close(&s->to_d);
	th_chan_close(&s->to_r);
}

/* 511/512/513: the grant-table frame (512 entries) and the map batch (512)
 * boundaries: ceil(N/B) = 1, 1, 2 buffer hypercalls.  1023/1024/1025: the
 * directory page boundary: 1023 refs fill exactly one page (next = 0);
 * 1024 and 1025 need a second directory page (and a second round of refs
 * in the chain walk's one map). */
static void sizes(int ro)
{
	static const uint32_t ns[] = {1, 511, 512, 513, 1023, 1024, 1025};
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct dctx s = {0};

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		char name[32];
		/* a domain dies with its last process: fresh ones per case */
		snprintf(name, sizeof(name), "dir-donor%zu", k);
		s.donor = th_domain(name);
		snprintf(name, sizeof(name), "dir-recip%zu", k);
		s.recip = th_domain(name);
		s.c = (struct dcase){.npages = ns[k], .batch = 512, .ro = ro};
		run_case(&s, 0, 0);
	}
	th_expect_stats(&s0, 10000);
	th_gntd_stop();
}

TEST(dir_share_sizes_ro) { sizes(1); }
TEST(dir_share_sizes_rw) { sizes(0); }

/* 1 GiB, both ways (issue 4, seed cases 1-1 and 1-2): a domain's buffer
 * mapped read-only by dom0, and dom0's one-unit (contiguous, DMA-style)
 * buffer mapped read-write by a domain.  262144 + 257 refs need 514 table
 * frames at v1 and 1028 at v2, for dom0 as for the domain. */
static void gib(int donor_dom0)
{
	static const char *const args[] = {"--max-grant-frames", "1040", NULL};
	struct gnt_domain_config big = {.max_pages = GIB_PAGES + 1024, .max_grant_frames = 1040};
	struct gnt_hv_stats s0 = (th_gntd_start_args(args), th_stats());
	struct dctx s = {.c = {.npages = GIB_PAGES, .batch = 65536, .ro = !donor_dom0}};
	uint32_t dom = th_domain_cfg("dir-big", &big);

	s.donor = donor_dom0 ? 0 : dom;
	s.recip = donor_dom0 ? dom : 0;
	run_case(&s, donor_dom0, !donor_dom0);
	th_expect_stats(&s0, 20000);
	th_gntd_stop();
}

TEST_TIMEOUT(dir_share_1GiB_ro_domain_to_dom0, 180) { gib(0); }
TEST_TIMEOUT(dir_share_1GiB_rw_dom0_to_domain, 180) { gib(1); }
