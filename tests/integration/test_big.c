/* SPDX-License-Identifier: MIT */
/*
 * Scale, as issue "core" asks: gntd serves more than 4 GiB of frames at once,
 * and a domain maps a 1 GiB buffer granted to it page by page (262 144
 * grants, 4 batched hypercalls), within this machine's 20 000 descriptors and
 * 65 530 mappings per process.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"

#define GIB_PAGES 262144u
#define BATCH 65536u

struct big {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

static void big_granter(void *p)
{
	struct big *s = p;
	char *buf = gnt_alloc_pages(GIB_PAGES);
	grant_ref_t first = 0, last = 0;

	CHECK(buf);
	for (uint32_t i = 0; i < GIB_PAGES; i += 4096)
		buf[(size_t)i * 4096 + 7] = (char)(i / 4096 + 1);
	buf[(size_t)(GIB_PAGES - 1) * 4096 + 4095] = 'Z';
	/* refs come out consecutive from a fresh table: send the range */
	for (uint32_t i = 0; i < GIB_PAGES; i++) {
		int r = gnt_grant_foreign_access((domid_t)s->b,
						 gnt_virt_to_gfn(buf + (size_t)i * 4096), 1);
		CHECK(r >= 8);
		if (i == 0)
			first = (grant_ref_t)r;
		else
			CHECK_EQ((uint32_t)r, first + i);
		last = (grant_ref_t)r;
	}
	th_send_u32(&s->to_b, first);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	for (grant_ref_t r = first; r <= last; r++)
		CHECK_EQ(gnt_try_end_foreign_access(r), 1);
	gnt_free_pages(buf, GIB_PAGES);
}

static void big_mapper(void *p)
{
	struct big *s = p;
	static struct gnttab_map_grant_ref ops[GIB_PAGES];
	static struct gnttab_unmap_grant_ref un[GIB_PAGES];
	grant_ref_t first = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(GIB_PAGES);
	uint64_t h0;

	CHECK(va);
	for (uint32_t i = 0; i < GIB_PAGES; i++)
		gnt_set_map_op(&ops[i], va + (size_t)i * 4096, GNTMAP_host_map | GNTMAP_readonly,
			       first + i, (domid_t)s->a);
	h0 = gnt_hypercall_count();
	for (uint32_t i = 0; i < GIB_PAGES; i += BATCH)
		CHECK_EQ(gnt_map_refs(&ops[i], BATCH), 0);
	CHECK_EQ(gnt_hypercall_count() - h0, GIB_PAGES / BATCH);
	for (uint32_t i = 0; i < GIB_PAGES; i++)
		if (ops[i].status != GNTST_okay)
			FAIL("page %u: status %d", i, ops[i].status);
	for (uint32_t i = 0; i < GIB_PAGES; i += 4096)
		CHECK_EQ(va[(size_t)i * 4096 + 7], (char)(i / 4096 + 1));
	CHECK_EQ(va[(size_t)(GIB_PAGES - 1) * 4096 + 4095], 'Z');
	CHECK(!th_can_write(va)); /* read-only: the kernel says no */
	for (uint32_t i = 0; i < GIB_PAGES; i++)
		gnt_set_unmap_op(&un[i], va + (size_t)i * 4096, 0, ops[i].handle);
	for (uint32_t i = 0; i < GIB_PAGES; i += BATCH)
		CHECK_EQ(gnt_unmap_refs(&un[i], BATCH), 0);
	for (uint32_t i = 0; i < GIB_PAGES; i++)
		CHECK_EQ(un[i].status, GNTST_okay);
	th_send_u32(&s->to_a, 1);
	gnt_free_ballooned_pages(va, GIB_PAGES);
}

TEST_TIMEOUT(map_a_1GiB_buffer_granted_page_by_page, 120)
{
	struct gnt_domain_config ga = {.max_pages = GIB_PAGES + 16, .max_grant_frames = 1040};
	/* 1040 frames: 262144 refs also at v2's 256 a frame */
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct big s;
	pid_t pa, pb;

	s.a = th_domain_cfg("big-granter", &ga);
	s.b = th_domain("big-mapper"); /* default maptrack: 1024 frames = 262144 */
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, big_granter, &s);
	pb = th_spawn(s.b, big_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 10000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}

static void hold_1gib(void *p)
{
	struct th_chan *c = p;
	void *m = gnt_alloc_pages(GIB_PAGES); /* untouched: costs no memory */
	CHECK(m);
	th_send_u32(c, 1);
	th_recv_u32(c + 1);
}

TEST_TIMEOUT(gntd_serves_more_than_4GiB_of_frames, 60)
{
	struct gnt_domain_config cfg = {.max_pages = GIB_PAGES};
	struct th_chan up, down[5];
	struct gnt_hv_stats st;
	pid_t pid[5];
	char name[16];

	th_gntd_start();
	th_chan_open(&up);
	for (int i = 0; i < 5; i++) {
		struct th_chan pair[2];
		th_chan_open(&down[i]);
		pair[0] = up;
		pair[1] = down[i];
		snprintf(name, sizeof(name), "mem%d", i);
		pid[i] = th_spawn(th_domain_cfg(name, &cfg), hold_1gib, pair);
		CHECK_EQ(th_recv_u32(&up), 1);
	}
	st = th_stats();
	CHECK(st.frames >= 5ull * GIB_PAGES); /* 5 GiB */
	CHECK(st.fds < 200);                  /* a unit is one descriptor */
	for (int i = 0; i < 5; i++) {
		th_send_u32(&down[i], 1);
		CHECK_EQ(th_wait(pid[i]), 0);
		th_chan_close(&down[i]);
	}
	th_chan_close(&up);
	th_gntd_stop();
}
