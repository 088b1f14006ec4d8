/* SPDX-License-Identifier: MIT */
/*
 * A process acts for its own domain only.  A grant to B cannot be mapped by
 * C; a process cannot name another domain ($GNT_FD that is not its domain
 * descriptor fails cleanly; control requests and hypercalls naming another
 * domain are refused); a domain uid cannot reach the control socket; and
 * (under root) the kernel keeps domains' processes apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "../helpers.h"

struct iso {
	struct th_chan to_a, to_b, to_c, to_t;
	uint32_t a, b, c;
	struct gnt_hv_stats start; /* before any domain */
};

/* ---- a grant to B is B's only --------------------------------------------- */

static void iso_granter(void *p)
{
	struct iso *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	strcpy(page, "for B only");
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_c, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* C has tried */
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 2); /* B has mapped and unmapped */
	CHECK(!strcmp(page, "B was here"));
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

static void iso_thief(void *p)
{
	struct iso *s = p;
	struct gnttab_map_grant_ref op[2];
	struct gnttab_copy cp;
	uint32_t ref = th_recv_u32(&s->to_c);
	char *va = gnt_alloc_ballooned_pages(2), *mine = gnt_alloc_page();

	CHECK(va && mine);
	gnt_set_map_op(&op[0], va, GNTMAP_host_map, ref, (domid_t)s->a);
	gnt_set_map_op(&op[1], va + GNT_PAGE_SIZE, GNTMAP_host_map | GNTMAP_readonly, ref,
		       (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(op, 2), 0);
	CHECK_EQ(op[0].status, GNTST_general_error);
	CHECK_EQ(op[1].status, GNTST_general_error);
	CHECK(!th_can_read(va) && !th_can_read(va + GNT_PAGE_SIZE));
	/* nor copy out of it */
	memset(&cp, 0, sizeof(cp));
	cp.source.u.ref = ref;
	cp.source.domid = (domid_t)s->a;
	cp.dest.u.gmfn = gnt_virt_to_gfn(mine);
	cp.dest.domid = DOMID_SELF;
	cp.flags = GNTCOPY_source_gref;
	cp.len = 16;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_copy, &cp, 1), 0);
	CHECK_EQ(cp.status, GNTST_general_error);
	CHECK_EQ(mine[0], 0);
	th_send_u32(&s->to_a, 1);
}

static void iso_grantee(void *p)
{
	struct iso *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(va);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK(!strcmp(va, "for B only"));
	strcpy(va, "B was here");
	gnt_set_unmap_op(&un, va, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&s->to_a, 2);
}

static void setup(struct iso *s)
{
	th_gntd_start();
	s->start = th_stats();
	s->a = th_domain("A");
	s->b = th_domain("B");
	s->c = th_domain("C");
	th_chan_open(&s->to_a);
	th_chan_open(&s->to_b);
	th_chan_open(&s->to_c);
	th_chan_open(&s->to_t);
}

static void teardown(struct iso *s)
{
	th_chan_close(&s->to_a);
	th_chan_close(&s->to_b);
	th_chan_close(&s->to_c);
	th_chan_close(&s->to_t);
	th_gntd_stop();
}

TEST(grant_to_b_cannot_be_mapped_by_c)
{
	struct iso s;
	pid_t pa, pb, pc;

	setup(&s);
	pa = th_spawn(s.a, iso_granter, &s);
	pc = th_spawn(s.c, iso_thief, &s);
	CHECK_EQ(th_wait(pc), 0);
	CHECK_EQ(th_dominfo(s.a).pins, 0);
	pb = th_spawn(s.b, iso_grantee, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	/* A, B and C had processes; all are gone, and so are the domains */
	th_expect_stats(&s.start, 5000);
	teardown(&s);
}

/* ---- $GNT_FD that is not a domain descriptor -------------------------------- */

static void try_fd(const char *val, int want1, int want2)
{
	int rc;

	setenv("GNT_FD", val, 1);
	rc = gnt_open();
	if (rc != want1 && rc != want2)
		FAIL("GNT_FD=%s: gnt_open %d (%s)", val, rc, strerror(-rc));
	CHECK_EQ(gnt_domid(), rc);
	CHECK(gnt_alloc_page() == NULL);
	CHECK(gnt_grant_foreign_access(0, 0x100, 0) < 0);
	CHECK(gnt_grant_table_op(GNTTABOP_query_size,
				 &(struct gnttab_query_size){.dom = DOMID_SELF}, 1) < 0);
}

static void bad_fd_child(void)
{
	char num[16];
	int fds[2], devnull, dg[2], sp[2];

	/* a closed number, junk, out of range */
	try_fd("1000", -EBADF, -EBADF);
	try_fd("abc", -EBADF, -EBADF);
	try_fd("-1", -EBADF, -EBADF);
	try_fd("99999999", -EBADF, -EBADF);
	try_fd("", -EACCES, -ENOENT); /* no $GNT_FD: wants dom0's socket */
	/* descriptors that are not a stream socket */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(devnull >= 0 && pipe2(fds, O_CLOEXEC) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0);
	snprintf(num, sizeof(num), "%d", devnull);
	try_fd(num, -EBADF, -EBADF);
	snprintf(num, sizeof(num), "%d", fds[1]);
	try_fd(num, -EBADF, -EBADF);
	snprintf(num, sizeof(num), "%d", dg[0]);
	try_fd(num, -EBADF, -EBADF);
	/* a stream socket nobody is behind */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	close(sp[1]);
	snprintf(num, sizeof(num), "%d", sp[0]);
	try_fd(num, -ESRCH, -EPIPE);
	close(devnull);
	close(fds[0]);
	close(fds[1]);
	close(dg[0]);
	close(dg[1]);
	close(sp[0]);
}

static void bad_fd_proc(void *p)
{
	struct iso *s = p;
	const char *own = getenv("GNT_FD");
	char keep[16];
	pid_t child;

	CHECK(own);
	snprintf(keep, sizeof(keep), "%s", own);
	fflush(NULL);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		bad_fd_child();
		/* and the real descriptor still works afterwards */
		setenv("GNT_FD", keep, 1);
		CHECK_EQ(gnt_open(), 0);
		CHECK_EQ(gnt_domid(), (int)s->a);
		fflush(NULL);
		_exit(0);
	}
	CHECK_EQ(th_wait(child), 0);
	CHECK_EQ(gnt_domid(), (int)s->a);
}

TEST(gnt_fd_not_a_domain_descriptor_fails_cleanly)
{
	struct iso s;
	pid_t pa;

	setup(&s);
	pa = th_spawn(s.a, bad_fd_proc, &s);
	CHECK_EQ(th_wait(pa), 0);
	teardown(&s);
}

/* ---- control requests and hypercalls naming another domain ----------------- */

static void naming_proc(void *p)
{
	struct iso *s = p;
	struct gnt_domain_info di[4];
	struct gnt_grant_dump gd[4];
	struct gnt_hv_stats st;
	struct gnttab_setup_table su = {.dom = (domid_t)s->b, .nr_frames = 2};
	struct gnttab_query_size qs = {.dom = (domid_t)s->b};
	struct gnttab_get_version gv = {.dom = (domid_t)s->b};
	uint64_t gfn, frames[4];
	struct xen_memory_reservation r = {
	    .extent_start = &gfn, .nr_extents = 1, .domid = (domid_t)s->b};

	CHECK_EQ(gnt_domain_create("evil", NULL), -EPERM);
	CHECK_EQ(gnt_domain_token(s->b, NULL, NULL), -EPERM);
	CHECK_EQ(gnt_domain_token(s->a, NULL, NULL), -EPERM);
	CHECK_EQ(gnt_domain_destroy(s->b), -EPERM);
	CHECK_EQ(gnt_domain_list(di, 4), -EPERM);
	CHECK_EQ(gnt_domain_grants(s->b, gd, 4), -EPERM);
	CHECK_EQ(gnt_domain_lookup("B"), -EPERM);
	CHECK_EQ(gnt_hv_stats(&st), -EPERM);
	CHECK(gnt_domain_spawn(s->b, (char *[]){"true", NULL}) < 0);
	CHECK_EQ(gnt_hv_stop(), -EPERM);

	/* hypercalls on another domain's table or memory */
	su.frame_list = frames;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_setup_table, &su, 1), 0);
	CHECK_EQ(su.status, GNTST_permission_denied);
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_query_size, &qs, 1), 0);
	CHECK_EQ(qs.status, GNTST_permission_denied);
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_get_version, &gv, 1), -EPERM);
	CHECK_EQ(gnt_memory_op(XENMEM_populate_physmap, &r), -EPERM);
	r.domid = 0;
	CHECK_EQ(gnt_memory_op(XENMEM_increase_reservation, &r), -EPERM);
	gfn = 0x100;
	r.domid = (domid_t)s->b;
	CHECK_EQ(gnt_memory_op(XENMEM_decrease_reservation, &r), -EPERM);
	/* our own still works */
	qs.dom = DOMID_SELF;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_query_size, &qs, 1), 0);
	CHECK_EQ(qs.status, GNTST_okay);
	CHECK_EQ(gnt_domid(), (int)s->a);
}

static void idle_proc(void *p)
{
	struct iso *s = p;
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
}

TEST(domain_cannot_control_or_name_another_domain)
{
	struct iso s;
	struct gnt_domain_info ib0, ib1;
	struct gnt_hv_stats st0;
	pid_t pa, pb;

	setup(&s);
	pb = th_spawn(s.b, idle_proc, &s);
	while (th_dominfo(s.b).procs < 2) /* its descriptor and its connection */
		usleep(1000);
	ib0 = th_dominfo(s.b);
	st0 = th_stats();
	pa = th_spawn(s.a, naming_proc, &s);
	CHECK_EQ(th_wait(pa), 0);
	/* nothing happened to B or to gntd (A itself is gone with its process) */
	ib1 = th_dominfo(s.b);
	CHECK_EQ(ib1.state, 1);
	CHECK_EQ(ib1.nr_frames, ib0.nr_frames);
	CHECK_EQ(ib1.tot_pages, ib0.tot_pages);
	CHECK_EQ(ib1.units, ib0.units);
	CHECK_EQ(ib1.procs, ib0.procs);
	/* A is gone with its process, and with it its table's memfd and its
	 * xenstore socket */
	st0.domains--;
	st0.fds -= 2;
	th_expect_stats(&st0, 5000);
	CHECK_EQ(th_domain_exists(s.c, NULL), 1);
	th_send_u32(&s.to_b, 1);
	CHECK_EQ(th_wait(pb), 0);
	teardown(&s);
}

/* ---- uid separation (root only) ------------------------------------------- */

static void socket_proc(void *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;
	(void)p;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/gntd.sock", gnt_runtime_dir());
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0);
	CHECK_EQ(errno, EACCES);
	close(fd);
	/* through libgnt, as a process without $GNT_FD would */
	gnt_close();
	unsetenv("GNT_FD");
	CHECK_EQ(gnt_open(), -EACCES);
	CHECK_EQ(gnt_hv_stats(&(struct gnt_hv_stats){0}), -EACCES);
}

TEST(domain_uid_cannot_reach_control_socket)
{
	struct iso s;
	struct stat st;
	char path[300];
	pid_t pa;

	if (geteuid() != 0)
		return; /* without root all share one uid: docs/differences-from-xen.md */
	setup(&s);
	snprintf(path, sizeof(path), "%s/gntd.sock", gnt_runtime_dir());
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_uid, 0);
	pa = th_spawn(s.a, socket_proc, &s);
	CHECK_EQ(th_wait(pa), 0);
	teardown(&s);
}

struct victim {
	int32_t pid, fd;
};

static void victim_proc(void *p)
{
	struct iso *s = p;
	struct victim v = {getpid(), atoi(getenv("GNT_FD"))};
	th_send(&s->to_t, &v, sizeof(v));
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
}

static void attacker_proc(void *p)
{
	struct iso *s = p;
	struct victim v[2];
	char path[64], buf[16];
	struct iovec l = {buf, sizeof(buf)}, r;
	int pfd;

	th_recv(&s->to_a, v, sizeof(v)); /* B's process, then gntd */
	for (int i = 0; i < 2; i++) {
		r.iov_base = (void *)&v[i];
		r.iov_len = sizeof(buf);
		CHECK(kill(v[i].pid, SIGKILL) < 0 && errno == EPERM);
		CHECK(process_vm_readv(v[i].pid, &l, 1, &r, 1, 0) < 0 && errno == EPERM);
		CHECK(ptrace(PTRACE_ATTACH, v[i].pid, NULL, NULL) < 0 && errno == EPERM);
		snprintf(path, sizeof(path), "/proc/%d/mem", v[i].pid);
		CHECK(open(path, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", v[i].pid, v[i].fd);
		CHECK(open(path, O_RDWR | O_CLOEXEC) < 0 && errno == EACCES);
		snprintf(path, sizeof(path), "/proc/%d/environ", v[i].pid);
		CHECK(open(path, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
		/* taking a descriptor out of the process */
		pfd = (int)syscall(SYS_pidfd_open, v[i].pid, 0);
		CHECK(pfd >= 0);
		CHECK(syscall(SYS_pidfd_getfd, pfd, v[i].fd, 0) < 0 && errno == EPERM);
		CHECK(syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 && errno == EPERM);
		close(pfd);
	}
}

TEST(domains_processes_cannot_reach_each_other)
{
	struct iso s;
	struct victim v[2];
	pid_t pa, pb;

	if (geteuid() != 0)
		return;
	setup(&s);
	pb = th_spawn(s.b, victim_proc, &s);
	th_recv(&s.to_t, &v[0], sizeof(v[0]));
	v[1].pid = th_gntd_pid();
	v[1].fd = 3; /* gntd's listening socket or another of its descriptors */
	CHECK(v[1].pid > 0);
	pa = th_spawn(s.a, attacker_proc, &s);
	th_send(&s.to_a, v, sizeof(v));
	CHECK_EQ(th_wait(pa), 0);
	th_send_u32(&s.to_b, 1);
	CHECK_EQ(th_wait(pb), 0); /* alive and well until told */
	teardown(&s);
}
