/* SPDX-License-Identifier: MIT */
/*
 * A read-only grant stays read-only in the mapper, enforced by the kernel:
 * a writable map is refused, a write faults, mprotect cannot add PROT_WRITE,
 * and the mapper holds no descriptor (nor can it re-open one through /proc)
 * that would give it a writable mapping of the frame.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../helpers.h"

struct ro {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
};

#define CONTENT "read-only content of A"

static void granter(void *p)
{
	struct ro *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	memset(page, 0x5A, GNT_PAGE_SIZE);
	strcpy(page, CONTENT);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 1);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	/* nothing the mapper tried reached our page */
	CHECK(!strcmp(page, CONTENT));
	for (size_t k = sizeof(CONTENT); k < GNT_PAGE_SIZE; k++)
		CHECK_EQ(page[k], 0x5A);
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

/* No descriptor of ours may name a frame (memfd) after mapping. */
static void check_no_memfd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	CHECK(d);
	while ((e = readdir(d))) {
		char path[300], link[300];
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "memfd:"))
			FAIL("mapper still holds fd %s -> %s", e->d_name, link);
	}
	closedir(d);
}

/* Any way back to a writable mapping through /proc must fail. */
static void check_reopen(void *va)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)va,
		 (unsigned long)va + GNT_PAGE_SIZE);
	CHECK(open(path, O_RDWR | O_CLOEXEC) < 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		void *w = mmap(NULL, GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(w == MAP_FAILED);
		CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		CHECK(open(path, O_RDWR | O_CLOEXEC) < 0);
		close(fd);
	}
	/* /proc/self/mem writes go through the page tables: refused too */
	fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		char c = 'X';
		CHECK(pwrite(fd, &c, 1, (off_t)(uintptr_t)va + 1) != 1);
		close(fd);
	}
	{
		char c = 'Y';
		struct iovec l = {&c, 1}, r = {(char *)va + 2, 1};
		CHECK(process_vm_writev(getpid(), &l, 1, &r, 1, 0) != 1);
	}
}

static void mapper(void *p)
{
	struct ro *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);
	pid_t child;

	CHECK(va);
	/* a writable map of a read-only grant is refused */
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_general_error);
	CHECK_EQ(op.handle, INVALID_GRANT_HANDLE);
	CHECK(!th_can_read(va));

	gnt_set_map_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK(!strcmp(va, CONTENT));

	/* a store faults */
	fflush(NULL);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct sigaction sa = {.sa_handler = SIG_DFL};
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		*(volatile char *)(va + 10) = 'W';
		_exit(0);
	}
	CHECK_EQ(th_wait(child), 128 + SIGSEGV);
	/* the kernel cannot store there on our behalf either */
	CHECK(th_can_read(va));
	CHECK(!th_can_write(va));
	/* no way to make it writable */
	CHECK(mprotect(va, GNT_PAGE_SIZE, PROT_READ | PROT_WRITE) < 0);
	CHECK_EQ(errno, EACCES);
	CHECK(mprotect(va, GNT_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC) < 0);
	CHECK(!th_can_write(va));
	check_no_memfd();
	check_reopen(va);
	CHECK(!strcmp(va, CONTENT));

	gnt_set_unmap_op(&un, va, GNTMAP_host_map | GNTMAP_readonly, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	CHECK(!th_can_read(va));
	gnt_free_ballooned_pages(va, 1);
	th_send_u32(&s->to_a, 1);
}

TEST(readonly_grant_is_kernel_enforced)
{
	struct ro s;
	struct gnt_hv_stats start;
	pid_t pa, pb;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&start, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

/* The writable control: the same checks see a RW mapping as writable, so
 * the read-only test above cannot pass by accident. */
static void rw_granter(void *p)
{
	struct ro *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	CHECK(!strcmp(page, "written by B"));
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

static void rw_mapper(void *p)
{
	struct ro *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(va);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK(th_can_write(va));
	strcpy(va, "written by B");
	check_no_memfd();
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	CHECK(!th_can_write(va));
	gnt_free_ballooned_pages(va, 1);
	th_send_u32(&s->to_a, 1);
}

TEST(readwrite_grant_is_writable_control)
{
	struct ro s;
	pid_t pa, pb;

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, rw_granter, &s);
	pb = th_spawn(s.b, rw_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}
