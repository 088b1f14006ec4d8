/* SPDX-License-Identifier: MIT */
/*
 * demo/gnt-demo.c - `make demo`: a private gntd, two domains, a 16 MiB
 * buffer granted page by page from one to the other, mapped in batches of
 * one hypercall each, checked, then the granter is killed while mapped: the
 * mapper keeps reading (Xen keeps a dead granter's mapped pages as a
 * zombie), unmaps, and every count returns to where it started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnt/gnt.h"

#define PAGES 4096u   /* 16 MiB */
#define BATCH 1024u

static char rundir[] = "/tmp/gnt-demo.XXXXXX";
static int to_back[2], to_parent[2];

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void xread(int fd, void *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)b + got, n - got);
		if (r <= 0)
			die("pipe", r < 0 ? errno : EPIPE);
		got += (size_t)r;
	}
}

static void xwrite(int fd, const void *b, size_t n)
{
	if (write(fd, b, n) != (ssize_t)n)
		die("pipe", errno);
}

static uint32_t pattern(uint32_t page, uint32_t word)
{
	return page * 2654435761u ^ word;
}

/* A process of the frontend domain: allocates, fills and grants. */
static void frontend(uint32_t back)
{
	uint32_t *buf = gnt_alloc_pages(PAGES);
	static grant_ref_t refs[PAGES];
	double t0;
	uint64_t h0;

	if (!buf)
		die("allocating 16 MiB", errno);
	for (uint32_t p = 0; p < PAGES; p++)
		for (uint32_t w = 0; w < 1024; w += 256)
			buf[p * 1024 + w] = pattern(p, w);
	h0 = gnt_hypercall_count();
	t0 = now_ms();
	for (uint32_t p = 0; p < PAGES; p++) {
		int r = gnt_grant_foreign_access((domid_t)back,
						 gnt_virt_to_gfn((char *)buf + p * 4096ul), 1);
		if (r < 0)
			die("granting", r);
		refs[p] = (grant_ref_t)r;
	}
	printf("  frontend (d%d): granted %u pages read-only to d%u in %.1f ms: entries are "
	       "written in shared memory; %llu hypercalls only to grow the table\n",
	       gnt_domid(), PAGES, back, now_ms() - t0,
	       (unsigned long long)(gnt_hypercall_count() - h0));
	fflush(stdout);
	xwrite(to_back[1], refs, sizeof(refs));
	for (;;)
		pause(); /* until killed */
}

/* A process of the backend domain: maps, checks, survives the frontend. */
static void backend(uint32_t front)
{
	static grant_ref_t refs[PAGES];
	static struct gnttab_map_grant_ref map[PAGES];
	static struct gnttab_unmap_grant_ref unmap[PAGES];
	char *va = gnt_alloc_ballooned_pages(PAGES);
	uint64_t h0;
	double t0, t1;
	char c;

	if (!va)
		die("reserving address space", errno);
	xread(to_back[0], refs, sizeof(refs));
	for (uint32_t p = 0; p < PAGES; p++)
		gnt_set_map_op(&map[p], va + p * 4096ul, GNTMAP_host_map | GNTMAP_readonly,
			       refs[p], (domid_t)front);
	gnt_domid();
	h0 = gnt_hypercall_count();
	t0 = now_ms();
	for (uint32_t i = 0; i < PAGES; i += BATCH) {
		int rc = gnt_map_refs(&map[i], BATCH);
		if (rc < 0)
			die("map", rc);
	}
	t1 = now_ms();
	for (uint32_t p = 0; p < PAGES; p++)
		if (map[p].status != GNTST_okay) {
			fprintf(stderr, "demo: page %u: %s\n", p, gnt_status_str(map[p].status));
			exit(1);
		}
	uint32_t *w = (uint32_t *)(void *)va;
	for (uint32_t p = 0; p < PAGES; p++)
		for (uint32_t k = 0; k < 1024; k += 256)
			if (w[p * 1024 + k] != pattern(p, k))
				die("content check", EIO);
	printf("  backend (d%d): mapped %u pages with %llu hypercalls (batches of %u) in %.1f ms "
	       "(%.2f us/page); content checked\n",
	       gnt_domid(), PAGES, (unsigned long long)(gnt_hypercall_count() - h0), BATCH,
	       t1 - t0, (t1 - t0) * 1000 / PAGES);
	fflush(stdout);
	xwrite(to_parent[1], "m", 1);
	xread(to_back[0], &c, 1); /* the frontend is dead now */
	for (uint32_t p = 0; p < PAGES; p++)
		for (uint32_t k = 0; k < 1024; k += 256)
			if (w[p * 1024 + k] != pattern(p, k))
				die("content check after the granter died", EIO);
	printf("  backend: the frontend is dead, and all %u pages still read correctly\n", PAGES);
	for (uint32_t p = 0; p < PAGES; p++)
		gnt_set_unmap_op(&unmap[p], va + p * 4096ul, 0, map[p].handle);
	h0 = gnt_hypercall_count();
	t0 = now_ms();
	for (uint32_t i = 0; i < PAGES; i += BATCH)
		if (gnt_unmap_refs(&unmap[i], BATCH) < 0)
			die("unmap", EIO);
	for (uint32_t p = 0; p < PAGES; p++)
		if (unmap[p].status != GNTST_okay)
			die("unmap status", EIO);
	printf("  backend: unmapped with %llu hypercalls in %.1f ms\n",
	       (unsigned long long)(gnt_hypercall_count() - h0), now_ms() - t0);
	fflush(stdout);
	xwrite(to_parent[1], "u", 1);
	xread(to_back[0], &c, 1);
}

static pid_t spawn(uint32_t dom, void (*fn)(uint32_t), uint32_t arg)
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(dom, &uid, &gid);
	pid_t pid;

	if (fd < 0)
		die("token", fd);
	pid = fork();
	if (pid == 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", fd);
		setenv("GNT_FD", num, 1);
		if (geteuid() == 0 &&
		    (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0))
			die("setuid", errno);
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	close(fd);
	return pid;
}

static int rm_one(const char *p, const struct stat *s, int f, struct FTW *w)
{
	(void)s, (void)f, (void)w;
	return remove(p);
}

static void cleanup(void)
{
	nftw(rundir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void show_stats(const char *when)
{
	struct gnt_hv_stats s;
	static struct gnt_domain_info v[16];
	int n;

	if (gnt_hv_stats(&s) < 0 || (n = gnt_domain_list(v, 16)) < 0)
		die("stats", EIO);
	printf("%s: %u domains, %u dying, %llu frames, %llu mappings, %llu pins, %u fds in gntd\n",
	       when, s.domains, s.zombies, (unsigned long long)s.frames,
	       (unsigned long long)s.mappings, (unsigned long long)s.pins, s.fds);
	for (int i = 0; i < n; i++)
		printf("    d%u %-9s %-8s frames %-5llu grant entries %-5u mappings %-5u pinned %u\n",
		       v[i].domid, v[i].name, v[i].state == 1 ? "running" : "DYING",
		       (unsigned long long)v[i].tot_pages, v[i].entries_in_use, v[i].mappings,
		       v[i].pins);
	fflush(stdout);
}

/* `gnt compare-sharing --pages 256`, in short: the same library routine */
static void compare_small(void)
{
	printf("\nsharing 256 pages three ways (gnt compare-sharing for more):\n");
	for (int a = 0; a < GNT_CMP_APPROACHES; a++) {
		struct gnt_compare_result r;
		int err = gnt_compare_run(a, 256, &r);
		if (err < 0)
			die("compare-sharing", -err);
		if (!r.supported)
			printf("  %-18s unsupported by this gntd\n", gnt_compare_name(a));
		else
			printf("  %-18s refs %llu, hypercalls %llu + %llu, messages %llu, %s\n",
			       gnt_compare_name(a), (unsigned long long)r.refs,
			       (unsigned long long)r.hc_donor, (unsigned long long)r.hc_recip,
			       (unsigned long long)r.messages, r.verified ? "verified" : "WRONG");
	}
}

int main(void)
{
	struct gnt_domain_config fcfg = {.max_pages = 8192, .max_grant_frames = 16};
	struct gnt_hv_stats s0, s1;
	uint32_t front, back;
	pid_t pf, pb;
	int rc, st;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN); /* output cut short (| head) must not stop us */
	if (!mkdtemp(rundir))
		die("mkdtemp", errno);
	atexit(cleanup);
	setenv("GNT_RUNTIME_DIR", rundir, 1);
	setenv("GNT_NO_DAEMON", "1", 1);
	printf("gnt demo: a private gntd in %s\n", rundir);
	rc = gnt_hv_start(NULL);
	if (rc < 0)
		die("starting gntd", rc);
	if (gnt_hv_stats(&s0) < 0)
		die("stats", EIO);
	front = (uint32_t)gnt_domain_create("frontend", &fcfg);
	back = (uint32_t)gnt_domain_create("backend", NULL);
	if ((int)front < 0 || (int)back < 0)
		die("creating domains", EIO);
	printf("created domains d%u (frontend) and d%u (backend)%s\n", front, back,
	       geteuid() == 0 ? ", each running under its own uid" : "");
	if (pipe(to_back) || pipe(to_parent))
		die("pipe", errno);
	pf = spawn(front, frontend, back);
	pb = spawn(back, backend, front);
	/* keep only our ends: a child that dies then reads as EOF, not a hang */
	close(to_parent[1]);
	close(to_back[0]);
	xread(to_parent[0], &c, 1);
	show_stats("while mapped");
	printf("killing the frontend (SIGKILL) while the backend maps its pages...\n");
	kill(pf, SIGKILL);
	waitpid(pf, &st, 0);
	/* gntd sees the frontend's connection close */
	for (int i = 0; i < 2000; i++) {
		static struct gnt_domain_info v[16];
		int n = gnt_domain_list(v, 16), dying = 0;
		for (int k = 0; k < n; k++)
			dying |= v[k].domid == front && v[k].state == 2;
		if (dying)
			break;
		usleep(1000);
	}
	show_stats("after the kill");
	xwrite(to_back[1], "k", 1);
	xread(to_parent[0], &c, 1);
	show_stats("after unmap");
	xwrite(to_back[1], "x", 1);
	waitpid(pb, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("backend failed", EIO);
	for (int i = 0; i < 2000; i++) {
		if (gnt_hv_stats(&s1) < 0)
			die("stats", EIO);
		if (s1.domains == s0.domains && s1.frames == s0.frames && !s1.zombies)
			break;
		usleep(1000);
	}
	show_stats("after both exited");
	if (s1.domains != s0.domains || s1.frames != s0.frames || s1.mappings || s1.pins ||
	    s1.zombies || s1.units != s0.units || s1.fds != s0.fds) {
		printf("demo: counts did not return to their start values (fds %u -> %u)\n", s0.fds,
		       s1.fds);
		gnt_hv_stop();
		return 1;
	}
	printf("everything returned to its start values (%u fds in gntd)\n", s1.fds);
	compare_small();
	printf("stopping gntd\n");
	gnt_hv_stop();
	while (wait(NULL) > 0)
		;
	printf("demo done\n");
	return 0;
}
