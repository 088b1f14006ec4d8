/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_v2.c - grant table v2 with a real gntd and real
 * domains: the suite's version is in effect, switching (-EBUSY while a ref
 * >= 8 is mapped, refs 0..7 kept), the status frames are read-only to the
 * domain (kernel-enforced), sub_page and transitive copies across domains,
 * and v1/v2 granters and mappers together.
 */
#define _GNU_SOURCE
#include "../helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

struct v2t {
	uint32_t a, b, c;
	struct th_chan to_a, to_b, to_c;
};

static uint32_t version_now(void)
{
	struct gnttab_get_version op = {.dom = DOMID_SELF};
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_get_version, &op, 1), 0);
	return op.version;
}

static int set_version(uint32_t v, uint32_t *now)
{
	struct gnttab_set_version op = {.version = v};
	long rc = gnt_grant_table_op(GNTTABOP_set_version, &op, 1);
	if (now)
		*now = op.version;
	return (int)rc;
}

static int16_t copy_in(uint32_t dom, grant_ref_t ref, uint16_t off, void *page, uint16_t len)
{
	struct gnttab_copy op = {.len = len, .flags = GNTCOPY_source_gref};
	op.source.u.ref = ref;
	op.source.domid = (domid_t)dom;
	op.source.offset = off;
	op.dest.u.gmfn = gnt_virt_to_gfn(page);
	op.dest.domid = DOMID_SELF;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_copy, &op, 1), 0);
	return op.status;
}

static int16_t map_one(uint32_t dom, grant_ref_t ref, void *va, grant_handle_t *h)
{
	struct gnttab_map_grant_ref op;
	gnt_set_map_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)dom);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	*h = op.handle;
	return op.status;
}

static void unmap_one(void *va, grant_handle_t h)
{
	struct gnttab_unmap_grant_ref op;
	gnt_set_unmap_op(&op, va, 0, h);
	CHECK_EQ(gnt_unmap_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
}

/* ---- the suite's version ------------------------------------------------ */

static void check_version(void *arg)
{
	struct gnttab_get_status_frames sf = {.nr_frames = 1, .dom = DOMID_SELF};
	uint64_t frame = 0;
	(void)arg;

	/* fails when GNT_GRANT_VERSION=2 did not make this domain v2 */
	CHECK_EQ(version_now(), (uint32_t)th_grant_version());
	sf.frame_list = &frame;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_get_status_frames, &sf, 1), 0);
	CHECK_EQ(sf.status, th_grant_version() == 2 ? GNTST_okay : GNTST_general_error);
}

TEST(v2_suite_runs_at_its_version)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	uint32_t a = th_domain("A");

	CHECK_EQ(th_wait(th_spawn(a, check_version, NULL)), 0);
	th_share_fresh(); /* and a grant shared at that version */
	th_expect_stats(&s0, 5000);
	th_gntd_stop();
}

/* ---- switching ---------------------------------------------------------- */

static void switch_granter(void *arg)
{
	struct v2t *t = arg;
	char *page = gnt_alloc_page();
	uint32_t v = version_now(), other = 3 - v, now = 0;
	int ref;

	CHECK(page);
	strcpy(page, "reserved");
	/* ref 1 (reserved) and a normal ref, both to B */
	gnt_grant_foreign_access_ref(1, (domid_t)t->b, gnt_virt_to_gfn(page), 1);
	ref = gnt_grant_foreign_access((domid_t)t->b, gnt_virt_to_gfn(page), 1);
	CHECK(ref >= 8);
	th_send_u32(&t->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&t->to_a), 1); /* B maps both */
	CHECK_EQ(set_version(other, &now), -EBUSY);
	CHECK_EQ(now, v);
	CHECK_EQ(version_now(), v);
	th_send_u32(&t->to_b, 2);
	CHECK_EQ(th_recv_u32(&t->to_a), 3); /* B unmapped the normal ref */
	CHECK_EQ(set_version(other, &now), 0);
	CHECK_EQ(now, other);
	th_send_u32(&t->to_b, 4);
	CHECK_EQ(th_recv_u32(&t->to_a), 5); /* B is done */
	/* back again, so the suite's version holds for what follows */
	CHECK_EQ(set_version(v, &now), 0);
	CHECK_EQ(gnt_end_foreign_access_ref(1), 1);
}

static void switch_mapper(void *arg)
{
	struct v2t *t = arg;
	uint32_t ref = th_recv_u32(&t->to_b);
	char *va = gnt_alloc_ballooned_pages(2);
	grant_handle_t h1, h2;

	CHECK(va);
	CHECK_EQ(map_one(t->a, 1, va, &h1), GNTST_okay);
	CHECK_EQ(map_one(t->a, ref, va + 4096, &h2), GNTST_okay);
	th_send_u32(&t->to_a, 1);
	CHECK_EQ(th_recv_u32(&t->to_b), 2);
	unmap_one(va + 4096, h2);
	th_send_u32(&t->to_a, 3);
	CHECK_EQ(th_recv_u32(&t->to_b), 4);
	/* after the switch: ref 1 still mapped and still granted, the rest gone */
	CHECK(!strcmp(va, "reserved"));
	unmap_one(va, h1);
	CHECK_EQ(map_one(t->a, 1, va, &h1), GNTST_okay);
	unmap_one(va, h1);
	CHECK_EQ(map_one(t->a, ref, va, &h2), GNTST_general_error);
	th_send_u32(&t->to_a, 5);
	gnt_free_ballooned_pages(va, 2);
}

TEST(v2_switch_busy_while_mapped_keeps_reserved_refs)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct v2t t;
	pid_t pa, pb;

	t.a = th_domain("A");
	t.b = th_domain("B");
	th_chan_open(&t.to_a);
	th_chan_open(&t.to_b);
	pa = th_spawn(t.a, switch_granter, &t);
	pb = th_spawn(t.b, switch_mapper, &t);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&t.to_a);
	th_chan_close(&t.to_b);
	th_gntd_stop();
}

/* ---- status frames are read-only to the domain ------------------------- */

static void status_readonly(void *arg)
{
	uint32_t now = 0;
	char path[64];
	void *p;
	int fd, rw;
	(void)arg;

	CHECK_EQ(set_version(2, &now), 0);
	fd = th_raw_status_fd();
	CHECK(fd >= 0);
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(mprotect(p, 4096, PROT_READ | PROT_WRITE) < 0);
	CHECK(!th_can_write(p));
	/* re-opened for writing (possible when gntd runs as our uid): the
	 * seal still refuses every write */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		CHECK(write(rw, "x", 1) < 0);
		CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0) == MAP_FAILED);
		close(rw);
	}
	munmap(p, 4096);
	close(fd);
}

TEST(v2_status_frames_read_only_to_the_domain)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	uint32_t a = th_domain("A");

	CHECK_EQ(th_wait(th_spawn(a, status_readonly, NULL)), 0);
	th_expect_stats(&s0, 5000);
	th_gntd_stop();
}

/* ---- sub_page and transitive copies ------------------------------------ */

static void write_v2(grant_entry_v2_t *e, uint16_t to, uint32_t w1, uint64_t frame,
		     uint16_t flags)
{
	e->hdr.domid = to;
	e->__spacer[1] = w1;
	e->full_page.frame = frame;
	__atomic_store_n(&e->hdr.flags, flags, __ATOMIC_RELEASE);
}

/* A (v2): page P granted full to B (ref 20) and as a sub_page window
 * [100, 300) to C (ref 21).  B (v2): a transitive grant of (A, 20) to C
 * (ref 30).  C copies through both. */
static void sp_granter(void *arg)
{
	struct v2t *t = arg;
	char *page = gnt_alloc_page();
	grant_entry_v2_t *tab;
	uint32_t nf, now;

	CHECK_EQ(set_version(2, &now), 0);
	tab = (grant_entry_v2_t *)(void *)th_raw_table(&nf);
	for (int i = 0; i < 4096; i++)
		page[i] = (char)(i * 7 + 3);
	write_v2(&tab[20], (uint16_t)t->b, 0, gnt_virt_to_gfn(page), GTF_permit_access);
	write_v2(&tab[21], (uint16_t)t->c, 100 | 200u << 16, gnt_virt_to_gfn(page),
		 GTF_permit_access | GTF_sub_page | GTF_readonly);
	th_send_u32(&t->to_b, 1);
	CHECK_EQ(th_recv_u32(&t->to_a), 2);
	CHECK_EQ(gnt_end_foreign_access_ref(20), 1);
	CHECK_EQ(gnt_end_foreign_access_ref(21), 1);
}

static void sp_middle(void *arg)
{
	struct v2t *t = arg;
	grant_entry_v2_t *tab;
	uint32_t nf, now;

	CHECK_EQ(th_recv_u32(&t->to_b), 1);
	CHECK_EQ(set_version(2, &now), 0);
	tab = (grant_entry_v2_t *)(void *)th_raw_table(&nf);
	write_v2(&tab[30], (uint16_t)t->c, t->a, 20, GTF_transitive | GTF_readonly);
	/* pointing at itself: refused */
	write_v2(&tab[31], (uint16_t)t->c, t->b, 30, GTF_transitive);
	th_send_u32(&t->to_c, 1);
	CHECK_EQ(th_recv_u32(&t->to_b), 2);
	CHECK_EQ(gnt_end_foreign_access_ref(30), 1);
	th_send_u32(&t->to_a, 2);
}

static void sp_copier(void *arg)
{
	struct v2t *t = arg;
	char *buf = gnt_alloc_page(), want[4096];

	for (int i = 0; i < 4096; i++)
		want[i] = (char)(i * 7 + 3);
	CHECK_EQ(th_recv_u32(&t->to_c), 1);
	CHECK_EQ(copy_in(t->a, 21, 100, buf, 200), GNTST_okay);
	CHECK(!memcmp(buf, want + 100, 200));
	CHECK_EQ(copy_in(t->a, 21, 299, buf, 1), GNTST_okay);
	CHECK_EQ(copy_in(t->a, 21, 300, buf, 0), GNTST_okay);
	CHECK_EQ(copy_in(t->a, 21, 300, buf, 1), GNTST_general_error);
	CHECK_EQ(copy_in(t->a, 21, 99, buf, 2), GNTST_general_error);
	CHECK_EQ(copy_in(t->a, 21, 4095, buf, 2), GNTST_bad_copy_arg);
	memset(buf, 0, 4096);
	CHECK_EQ(copy_in(t->b, 30, 0, buf, 4096), GNTST_okay);
	CHECK(!memcmp(buf, want, 4096));
	CHECK_EQ(copy_in(t->b, 31, 0, buf, 1), GNTST_general_error);
	/* neither can be mapped */
	{
		char *va = gnt_alloc_ballooned_pages(1);
		grant_handle_t h;
		CHECK_EQ(map_one(t->a, 21, va, &h), GNTST_general_error);
		CHECK_EQ(map_one(t->b, 30, va, &h), GNTST_general_error);
		gnt_free_ballooned_pages(va, 1);
	}
	th_send_u32(&t->to_b, 2);
	gnt_free_page(buf);
}

TEST(v2_sub_page_and_transitive_copies_across_domains)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct v2t t;
	pid_t pa, pb, pc;

	t.a = th_domain("A");
	t.b = th_domain("B");
	t.c = th_domain("C");
	th_chan_open(&t.to_a);
	th_chan_open(&t.to_b);
	th_chan_open(&t.to_c);
	pa = th_spawn(t.a, sp_granter, &t);
	pb = th_spawn(t.b, sp_middle, &t);
	pc = th_spawn(t.c, sp_copier, &t);
	CHECK_EQ(th_wait(pc), 0);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&t.to_a);
	th_chan_close(&t.to_b);
	th_chan_close(&t.to_c);
	th_gntd_stop();
}

/* ---- v1 and v2 together -------------------------------------------------- */

static void mixed_granter(void *arg)
{
	struct v2t *t = arg;
	char *page = gnt_alloc_page();
	uint32_t now;
	int ref;

	CHECK_EQ(set_version(th_grant_version() == 2 ? 1 : 2, &now), 0);
	strcpy(page, "mixed");
	ref = gnt_grant_foreign_access((domid_t)t->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= 8);
	th_send_u32(&t->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&t->to_a), 1);
	CHECK(!strcmp(page, "MIXED"));
	CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 1);
}

static void mixed_mapper(void *arg)
{
	struct v2t *t = arg;
	uint32_t ref = th_recv_u32(&t->to_b);
	char *va = gnt_alloc_ballooned_pages(1);
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;

	CHECK_EQ(version_now(), (uint32_t)th_grant_version()); /* the other one */
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)t->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK(!strcmp(va, "mixed"));
	memcpy(va, "MIXED", 5);
	gnt_set_unmap_op(&un, va, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&t->to_a, 1);
	gnt_free_ballooned_pages(va, 1);
}

TEST(v2_granter_and_mapper_of_different_versions)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct v2t t;
	pid_t pa, pb;

	t.a = th_domain("A");
	t.b = th_domain("B");
	th_chan_open(&t.to_a);
	th_chan_open(&t.to_b);
	pa = th_spawn(t.a, mixed_granter, &t);
	pb = th_spawn(t.b, mixed_mapper, &t);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&t.to_a);
	th_chan_close(&t.to_b);
	th_gntd_stop();
}
