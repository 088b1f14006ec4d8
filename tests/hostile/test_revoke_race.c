/* SPDX-License-Identifier: MIT */
/*
 * Revocation under pressure (security-anchors §5 items 1-2, §1h-1, §1h-2).
 * Needs root: kernel-checked revocation uses fanotify, and only separate
 * uids keep a domain from re-opening a unit writable; without root each
 * test fails saying so.
 *
 * Revoke vs map, with a canary.  Granter A grants one page to B round after
 * round (read-write and read-only in turn), tries to end the grant, and once
 * it has ended writes "ENDED-<round>" into the page before granting it
 * anew.  Mapper B maps the round's ref, reads, unmaps.  B publishes MAPPED
 * before it reads, A writes its canary before it looks at what B published
 * (both sequentially consistent), so if an end ever succeeded under B's
 * mapping either B reads the canary or A sees B mapped: both fail.  A map
 * that worked must have been unmapped before the end succeeded.  A third of
 * the rounds force the end to be tried while B holds the mapping (it must be
 * refused), a third only after B unmapped (it must succeed at once: libgnt
 * asks gntd to settle), a third race freely; the counts of each outcome are
 * checked (GNT_TEST_VERBOSE=1 prints them).
 *
 * Descriptor laundering.  B maps A's grant by hand, keeps gntd's
 * descriptor, passes it to a process of domain C over a Unix socket, closes
 * its own copy and unmaps.  The page is still reachable through C, so A's
 * end of access must fail, and C's writes must land in A's page, until C
 * lets go: closes the descriptor, or unmaps the only mapping it made of it,
 * or exits.  Then the grant ends, C holds nothing that names the unit, and
 * gntd's accounting is back where it started.
 *
 * Read-only descriptors stay read-only.  The descriptor of a read-only map
 * (of a read-only grant, and of a read-write grant mapped read-only), and
 * the v2 status frames' descriptor, give no way to write: no shared writable
 * mmap, no mprotect to PROT_WRITE, no O_RDWR re-open through /proc, no
 * F_SETFL upgrade, no write(2); a private writable mapping changes only the
 * mapper's copy.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../helpers.h"

static void need_root(void)
{
	if (geteuid() != 0)
		FAIL("needs root: kernel-checked revocation uses fanotify, and domains their "
		     "own uids");
}

/* ---- revoke vs map, with a canary ------------------------------------ */

#define ROUNDS 2000u

enum { HOLD, AFTER, RACE }; /* round % 3 */
enum { B_MAPPING = 1, B_MAPPED, B_UNMAPPING, B_DONE };            /* [B] state of a round */
enum { M_MAPPED = 1, M_DONE_OK, M_DONE_FAILED, M_GO, M_CHECKED }; /* messages */

struct race {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	uint32_t *bstate; /* shared: round << 4 | B_* */
};

struct round_msg {
	uint32_t round, ref, ro;
};

struct counts {
	uint32_t refused_mapped; /* an end refused while B said MAPPED */
	uint32_t ended_after;    /* an end after B's unmap */
	uint32_t ended_before;   /* an end that made B's map fail */
};

static uint32_t bstate(const struct race *s)
{
	return __atomic_load_n(s->bstate, __ATOMIC_SEQ_CST);
}

/* End the round's grant; once ended, the canary goes in, then B's word is
 * looked at.  Returns the state B had published. */
static uint32_t end_round(struct race *s, uint32_t r, grant_ref_t ref, char *page,
			  struct counts *n)
{
	uint32_t tries = 0, st;

	while (!gnt_end_foreign_access_ref(ref)) {
		if (bstate(s) == (r << 4 | B_MAPPED))
			n->refused_mapped++;
		if (++tries > 1000000u)
			FAIL("round %u: the grant never ended", r);
	}
	snprintf(page, 64, "ENDED-%u", r);
	/* canary in, then read B's state: B stores, then reads the page */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	st = bstate(s);
	if (st == (r << 4 | B_MAPPED))
		FAIL("round %u: the grant ended while B held a mapping", r);
	return st;
}

static void race_round(struct race *s, uint32_t r, grant_ref_t ref, char *page, uint64_t gfn,
		       struct counts *n)
{
	struct round_msg m = {r, ref, r & 1};
	uint32_t st, done;
	char want[32];

	snprintf(page, 64, "ROUND-%u", r);
	gnt_grant_foreign_access_ref(ref, (domid_t)s->b, gfn, (int)m.ro);
	th_send(&s->to_b, &m, sizeof(m));
	if (r % 3 == HOLD) {
		CHECK_EQ(th_recv_u32(&s->to_a), M_MAPPED);
		CHECK_EQ(gnt_end_foreign_access_ref(ref), 0);
		n->refused_mapped++;
		if (r == 0) { /* gntd's word on it, too */
			th_send_u32(&s->to_t, 1);
			CHECK_EQ(th_recv_u32(&s->to_a), M_CHECKED);
		}
		th_send_u32(&s->to_b, M_GO);
	}
	if (r % 3 == RACE) {
		/* B's map is on its way: end it after a varying number of
		 * yields (no clock), so that either may come first */
		uint32_t k = (r * 2654435761u) >> 26;
		while (bstate(s) < (r << 4 | B_MAPPING))
			sched_yield();
		while (k--)
			sched_yield();
	}
	if (r % 3 == AFTER) {
		CHECK_EQ(th_recv_u32(&s->to_a), M_DONE_OK);
		CHECK_EQ(gnt_end_foreign_access_ref(ref), 1); /* an honest unmap counts at once */
		snprintf(page, 64, "ENDED-%u", r);
		n->ended_after++;
		return;
	}
	st = end_round(s, r, ref, page, n);
	done = th_recv_u32(&s->to_a);
	if (done == M_DONE_OK) {
		/* the map worked, so its unmap came before the end */
		if (st != (r << 4 | B_UNMAPPING) && st != (r << 4 | B_DONE))
			FAIL("round %u: ended while B's map stood (B's state %#x)", r, st);
		n->ended_after++;
	} else {
		CHECK_EQ(done, M_DONE_FAILED);
		n->ended_before++;
	}
	snprintf(want, sizeof(want), "ENDED-%u", r);
	CHECK(!strcmp(page, want)); /* nothing reached the page after the end */
}

static void race_granter(void *p)
{
	struct race *s = p;
	char *page = gnt_alloc_page();
	struct counts n = {0};
	uint64_t gfn;
	int ref;

	CHECK(page);
	gfn = gnt_virt_to_gfn(page);
	ref = gnt_grant_foreign_access((domid_t)s->b, gfn, 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 1);
	for (uint32_t r = 0; r < ROUNDS; r++)
		race_round(s, r, (grant_ref_t)ref, page, gfn, &n);
	if (getenv("GNT_TEST_VERBOSE"))
		fprintf(stderr, "  %u rounds: %u ends refused under a mapping, %u ended after "
				"an unmap, %u before a map\n",
			ROUNDS, n.refused_mapped, n.ended_after, n.ended_before);
	/* both orders happened (the forced rounds guarantee it) */
	CHECK(n.refused_mapped >= ROUNDS / 3);
	CHECK(n.ended_after >= ROUNDS / 3);
	CHECK(n.ended_after + n.ended_before == ROUNDS);
	gnt_free_grant_reference((grant_ref_t)ref);
	gnt_free_page(page);
}

/* Map the round's grant, read it; HOLD rounds wait for A's refused end. */
static void race_map_round(struct race *s, const struct round_msg *m, char *va)
{
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t flags = GNTMAP_host_map | (m->ro || (m->round & 2) ? GNTMAP_readonly : 0);
	char want[32], seen[32];

	gnt_set_map_op(&op, va, flags, m->ref, (domid_t)s->a);
	__atomic_store_n(s->bstate, m->round << 4 | B_MAPPING, __ATOMIC_SEQ_CST);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	if (op.status != GNTST_okay) {
		/* only a free race may lose to the end, and then the entry is gone */
		CHECK_EQ(m->round % 3, RACE);
		CHECK_EQ(op.status, GNTST_general_error);
		th_send_u32(&s->to_a, M_DONE_FAILED);
		return;
	}
	__atomic_store_n(s->bstate, m->round << 4 | B_MAPPED, __ATOMIC_SEQ_CST);
	/* published as mapped, then read: see end_round */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(seen, va, sizeof(seen));
	seen[sizeof(seen) - 1] = 0;
	if (!strncmp(seen, "ENDED", 5))
		FAIL("round %u: canary \"%s\" read through a mapping", m->round, seen);
	snprintf(want, sizeof(want), "ROUND-%u", m->round);
	CHECK(!strcmp(seen, want));
	if (m->round % 3 == HOLD) {
		th_send_u32(&s->to_a, M_MAPPED);
		CHECK_EQ(th_recv_u32(&s->to_b), M_GO);
		CHECK(!strcmp(va, want)); /* the refused end changed nothing */
	}
	__atomic_store_n(s->bstate, m->round << 4 | B_UNMAPPING, __ATOMIC_SEQ_CST);
	gnt_set_unmap_op(&un, va, flags, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	__atomic_store_n(s->bstate, m->round << 4 | B_DONE, __ATOMIC_SEQ_CST);
	th_send_u32(&s->to_a, M_DONE_OK);
}

static void race_mapper(void *p)
{
	struct race *s = p;
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(va);
	for (uint32_t r = 0; r < ROUNDS; r++) {
		struct round_msg m;
		th_recv(&s->to_b, &m, sizeof(m));
		CHECK_EQ(m.round, r);
		race_map_round(s, &m, va);
	}
	gnt_free_ballooned_pages(va, 1);
}

TEST_TIMEOUT(end_of_access_races_map_and_never_ends_under_a_mapping, 180)
{
	struct gnt_hv_stats s0;
	struct race s;
	pid_t pa, pb;

	need_root();
	th_gntd_start();
	s0 = th_stats();
	s.bstate = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(s.bstate != MAP_FAILED);
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, race_granter, &s);
	pb = th_spawn(s.b, race_mapper, &s);
	/* round 0: A's end was just refused while B holds the mapping */
	CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 1);
	CHECK_EQ(th_dominfo(s.b).mappings, 1);
	CHECK(th_dominfo(s.a).pins > 0);
	th_send_u32(&s.to_a, M_CHECKED);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	munmap(s.bstate, 4096);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

/* ---- descriptor laundering ------------------------------------------- */

enum { C_KEEPS_FD, C_KEEPS_MAPPING, C_EXITS };

struct laund {
	struct th_chan to_a, to_b, to_c, to_t;
	uint32_t a, b, c;
	int how;
	char name[64]; /* abstract socket: B hands the descriptor to C there */
};

static int laund_socket(const struct laund *s, int listening)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(s->name));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memcpy(sa.sun_path + 1, s->name, strlen(s->name));
	if (listening)
		CHECK(bind(fd, (struct sockaddr *)&sa, len) == 0 && listen(fd, 1) == 0);
	else
		CHECK(connect(fd, (struct sockaddr *)&sa, len) == 0);
	return fd;
}

static void laund_granter(void *p)
{
	struct laund *s = p;
	char *page = gnt_alloc_page();
	int ref, ended = 0;

	CHECK(page);
	strcpy(page, "before");
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_b, (uint32_t)ref);
	/* B unmapped and closed its copy (1), C holds the page (2) */
	CHECK_EQ(th_recv_u32(&s->to_a) + th_recv_u32(&s->to_a), 3);
	for (int i = 0; i < 5; i++) /* each asks gntd to settle */
		CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 0);
	th_send_u32(&s->to_c, 3);
	CHECK_EQ(th_recv_u32(&s->to_a), 4);
	/* still granted, so C's write through the laundered file is legitimate */
	CHECK(!strcmp(page, "written by C"));
	CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 0);
	th_send_u32(&s->to_c, 5); /* let go */
	/* the kernel's word arrives when it does: poll, the end is the check */
	for (int i = 0; i < 10000 && !ended; i++) {
		ended = gnt_end_foreign_access_ref((grant_ref_t)ref);
		if (!ended)
			usleep(1000);
	}
	CHECK_EQ(ended, 1);
	strcpy(page, "reused after the end");
	if (s->how != C_EXITS) {
		th_send_u32(&s->to_c, 6);
		CHECK_EQ(th_recv_u32(&s->to_a), 7);
	}
	CHECK(!strcmp(page, "reused after the end"));
	gnt_free_grant_reference((grant_ref_t)ref);
	gnt_free_page(page);
}

/* Map by hand, hand gntd's descriptor to C, close it and unmap. */
static void laund_mapper(void *p)
{
	struct laund *s = p;
	uint32_t ref = th_recv_u32(&s->to_b), page = 0;
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .len = sizeof(page)};
	int conn = th_raw_attach(), sock, fd, h;

	h = th_raw_map(conn, s->a, ref, GNTMAP_host_map, &fd, &page);
	CHECK(h >= 0);
	sock = laund_socket(s, 0);
	CHECK_EQ(th_raw_send(sock, &m, &page, sizeof(page), &fd, 1), 0);
	close(sock);
	close(fd);
	th_raw_unmap(conn, (uint32_t)h);
	close(conn);
	th_send_u32(&s->to_a, 1);
}

/* Any descriptor of ours on the inode of st? */
static int holds_inode(const struct stat *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0;

	CHECK(d);
	while ((e = readdir(d))) {
		struct stat o;
		if (e->d_name[0] != '.' && fstat(atoi(e->d_name), &o) == 0 &&
		    o.st_dev == st->st_dev && o.st_ino == st->st_ino)
			found = 1;
	}
	closedir(d);
	return found;
}

static char *laund_mmap(int fd, uint32_t page)
{
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page * 4096);
	CHECK(p != MAP_FAILED);
	return p;
}

static void laund_keeper(void *p)
{
	struct laund *s = p;
	int lsock = laund_socket(s, 1), sock, fd = -1;
	unsigned int nfds = 1;
	struct gnt_msg m;
	uint32_t page = 0;
	struct stat st;
	char *va;

	th_send_u32(&s->to_t, 1); /* listening */
	sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	CHECK(sock >= 0);
	CHECK_EQ(th_raw_recv(sock, &m, &page, sizeof(page), &fd, &nfds, 5000), 1);
	CHECK_EQ(nfds, 1);
	close(sock);
	close(lsock);
	CHECK(fstat(fd, &st) == 0);
	va = laund_mmap(fd, page);
	CHECK(!strcmp(va, "before")); /* the laundered file reaches A's page */
	if (s->how == C_KEEPS_MAPPING)
		close(fd), fd = -1;
	else
		munmap(va, 4096), va = NULL;
	th_send_u32(&s->to_a, 2);
	CHECK_EQ(th_recv_u32(&s->to_c), 3);
	if (!va) {
		va = laund_mmap(fd, page);
		strcpy(va, "written by C");
		munmap(va, 4096), va = NULL;
	} else {
		strcpy(va, "written by C");
	}
	th_send_u32(&s->to_a, 4);
	CHECK_EQ(th_recv_u32(&s->to_c), 5);
	if (s->how == C_EXITS)
		return; /* exit holding the descriptor */
	if (s->how == C_KEEPS_FD)
		close(fd);
	else
		munmap(va, 4096);
	CHECK_EQ(th_recv_u32(&s->to_c), 6);
	/* the grant has ended: nothing of ours reaches the page any more */
	CHECK(!holds_inode(&st));
	if (va)
		CHECK(!th_can_read(va));
	th_send_u32(&s->to_a, 7);
}

static void launder(int how)
{
	struct gnt_hv_stats s0;
	struct laund s = {.how = how};
	pid_t pa, pb, pc;

	need_root();
	th_gntd_start();
	s0 = th_stats();
	snprintf(s.name, sizeof(s.name), "gnt-test-launder-%d", (int)getpid());
	s.a = th_domain("A");
	s.b = th_domain("B");
	s.c = th_domain("C");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_c);
	th_chan_open(&s.to_t);
	pc = th_spawn(s.c, laund_keeper, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pc), 1);
	pa = th_spawn(s.a, laund_granter, &s);
	pb = th_spawn(s.b, laund_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pc), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_c);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

TEST(descriptor_laundered_to_a_third_domain_keeps_the_grant_pinned)
{
	launder(C_KEEPS_FD);
}

TEST(mapping_of_a_laundered_descriptor_keeps_the_grant_pinned)
{
	launder(C_KEEPS_MAPPING);
}

TEST(laundered_descriptor_is_let_go_when_its_holder_exits)
{
	launder(C_EXITS);
}

/* ---- read-only descriptors stay read-only ------------------------------ */

struct rod {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

#define RO_TEXT "granted read-only"
#define RW_TEXT "granted read-write, mapped read-only"

/* No way to write through fd; its page at `page` holds `text` (or, NULL,
 * whatever it holds stays as it was). */
static void check_ro_fd(int fd, uint32_t page, const char *text)
{
	off_t off = (off_t)page * 4096;
	char path[64], before[64];
	char *r, *w;

	CHECK(geteuid() != 0); /* a root domain could re-open anything */
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, off);
	CHECK(r != MAP_FAILED);
	memcpy(before, r, sizeof(before));
	if (text)
		CHECK(!strcmp(r, text));
	CHECK(mprotect(r, 4096, PROT_READ | PROT_WRITE) < 0);
	CHECK_EQ(errno, EACCES);
	CHECK(!th_can_write(r));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	CHECK(open(path, O_RDWR | O_CLOEXEC) < 0);
	CHECK_EQ(errno, EACCES);
	CHECK(open(path, O_WRONLY | O_CLOEXEC) < 0);
	/* F_SETFL ignores access mode bits */
	fcntl(fd, F_SETFL, O_RDWR);
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off) == MAP_FAILED);
	CHECK(write(fd, "x", 1) < 0 && errno == EBADF);
	CHECK(pwrite(fd, "x", 1, off) < 0 && errno == EBADF);
	CHECK(ftruncate(fd, 0) < 0);
	/* a private writable mapping is the mapper's own copy */
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off);
	CHECK(w != MAP_FAILED);
	memset(w, 'P', 64);
	CHECK(!memcmp(r, before, sizeof(before)));
	munmap(w, 4096);
	munmap(r, 4096);
}

static void rod_granter(void *p)
{
	struct rod *s = p;
	char *ro = gnt_alloc_page(), *rw = gnt_alloc_page();
	uint32_t refs[2];

	CHECK(ro && rw);
	strcpy(ro, RO_TEXT);
	strcpy(rw, RW_TEXT);
	refs[0] = (uint32_t)gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(ro), 1);
	refs[1] = (uint32_t)gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(rw), 0);
	CHECK(refs[0] >= GNTTAB_NR_RESERVED_ENTRIES && refs[1] >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send(&s->to_b, refs, sizeof(refs));
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	CHECK(!strcmp(ro, RO_TEXT));
	CHECK(!strcmp(rw, RW_TEXT));
	/* B closed and unmapped: both end at once */
	CHECK_EQ(gnt_try_end_foreign_access(refs[0]), 1);
	CHECK_EQ(gnt_try_end_foreign_access(refs[1]), 1);
	gnt_free_page(ro);
	gnt_free_page(rw);
}

static void rod_mapper(void *p)
{
	struct rod *s = p;
	static const char *const text[2] = {RO_TEXT, RW_TEXT};
	struct gnttab_set_version v2 = {.version = 2};
	int conn = th_raw_attach(), fd, h;
	uint32_t refs[2], page = 0;

	th_recv(&s->to_b, refs, sizeof(refs));
	for (int i = 0; i < 2; i++) {
		h = th_raw_map(conn, s->a, refs[i], GNTMAP_host_map | GNTMAP_readonly, &fd, &page);
		CHECK(h >= 0);
		check_ro_fd(fd, page, text[i]);
		close(fd);
		th_raw_unmap(conn, (uint32_t)h);
	}
	close(conn);
	th_send_u32(&s->to_a, 1);
	/* gntd writes the v2 status frames; the domain only reads them */
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_set_version, &v2, 1), 0);
	fd = th_raw_status_fd();
	CHECK(fd >= 0);
	check_ro_fd(fd, 0, NULL);
	close(fd);
}

TEST(read_only_descriptors_cannot_be_made_writable)
{
	struct gnt_hv_stats s0;
	struct rod s;
	pid_t pa, pb;

	need_root();
	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, rod_granter, &s);
	pb = th_spawn(s.b, rod_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}
