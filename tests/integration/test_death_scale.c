/* SPDX-License-Identifier: MIT */
/*
 * Domain death at scale (security-anchors §5 item 9, §3.1; XSA-380/344/325).
 *
 * - A caller SIGKILLed with the reply to a 4096-op map unread: a plain
 *   map's maptrack stays its domain's until unmap or death, a gntdev-owned
 *   one (GNT_HC_OWNED) goes with the connection.
 * - A grantee holding 65 536 mappings of one unit and 1000 event channel
 *   ports dies while two other domains share pages in a loop: every round
 *   completes, the granter can end every grant afterwards, gntd's counts
 *   return to their start, and @releaseDomain fires once.
 * - The granter of those 65 536 pages dies instead: it is a zombie while
 *   mapped, its mapper keeps reading, new maps fail, and the zombie goes
 *   (with no second @releaseDomain) when the mapper unmaps.
 *
 * Times are printed to stderr for information only; nothing here asserts
 * on them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/evtchn.h"
#include "gnt/xs.h"

#define BIG_PAGES 65536u
#define RAW_OPS 4096u
#define MAP_BATCH 16384u
#define NPORTS 1000u
#define MAX_GRANT_FRAMES 300u /* 65 544 refs at v2 need 257 */

enum {
	CMD_GRANT = 1, /* granter: a unit of n pages, each granted to the mapper */
	CMD_PORTS,     /* granter: NPORTS unbound ports for the mapper */
	CMD_END,       /* granter: end every grant, reply how many ended */
	CMD_FREE,      /* granter: free the unit */
	CMD_MAP,       /* mapper: map every page in batches, reply how many */
	CMD_BIND,      /* mapper: bind every port, reply how many */
	CMD_READ,      /* mapper: check and write the pages, reply 1 */
	CMD_MAP_AGAIN, /* mapper: map the first ref once more, reply its status */
	CMD_UNMAP,     /* mapper: unmap all, reply how many were okay */
	CMD_RAW_MAP,   /* mapper: raw map request (aux = next u32), never read */
	CMD_PING,      /* reply 1: the process is connected and serving */
	CMD_EXIT,
};

struct proc {
	pid_t pid;
	struct th_chan cmd, reply;
};

/* Rounds of th_share_once(c, d), timed, in memory shared with the test. */
#define MAX_ROUNDS 4096u
struct rounds {
	_Atomic uint32_t stop, n;
	uint64_t t0[MAX_ROUNDS], t1[MAX_ROUNDS];
};

struct scale {
	uint32_t a, b, c, d;
	uint32_t npages;
	grant_ref_t first;
	uint32_t ports[NPORTS];
	struct proc g, m;
	struct proc *self;       /* the mapper being spawned */
	struct th_chan keep;     /* keepers of C and D wait on it */
	pid_t keep_c, keep_d, looper;
	struct rounds *r;
	uint32_t want_rounds;
	gnt_xs *xs;
	struct gnt_hv_stats start;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint32_t call(struct proc *p, uint32_t cmd)
{
	th_send_u32(&p->cmd, cmd);
	return th_recv_u32_from(&p->reply, p->pid);
}

/* ---- the granter (domain A) ----------------------------------------------- */

static void granter_grant(struct scale *s, char **buf)
{
	*buf = gnt_alloc_pages(s->npages);
	CHECK(*buf);
	for (uint32_t i = 0; i < s->npages; i++) {
		char *pg = *buf + (size_t)i * GNT_PAGE_SIZE;
		int r;
		memcpy(pg, &i, sizeof(i));
		r = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(pg), 0);
		/* a fresh table hands out consecutive refs */
		CHECK_EQ(r, (i == 0 ? (int)GNTTAB_NR_RESERVED_ENTRIES : (int)(s->first + i)));
		if (i == 0)
			s->first = (grant_ref_t)r;
	}
	th_send_u32(&s->g.reply, s->first);
}

static void granter_ports(struct scale *s, gnt_evtchn_handle **h)
{
	*h = gnt_evtchn_open();
	CHECK(*h);
	for (uint32_t i = 0; i < NPORTS; i++) {
		int p = gnt_evtchn_bind_unbound_port(*h, (domid_t)s->b);
		CHECK(p > 0);
		s->ports[i] = (uint32_t)p;
	}
	th_send(&s->g.reply, s->ports, sizeof(s->ports));
}

static void granter(void *p)
{
	struct scale *s = p;
	gnt_evtchn_handle *h = NULL;
	char *buf = NULL;

	for (;;) {
		uint32_t cmd = th_recv_u32(&s->g.cmd), n = 0;
		switch (cmd) {
		case CMD_GRANT:
			granter_grant(s, &buf);
			continue;
		case CMD_PORTS:
			granter_ports(s, &h);
			continue;
		case CMD_END:
			for (uint32_t i = 0; i < s->npages; i++)
				n += (uint32_t)gnt_try_end_foreign_access(s->first + i);
			break;
		case CMD_FREE:
			gnt_free_pages(buf, s->npages);
			n = 1;
			break;
		case CMD_EXIT:
			if (h)
				gnt_evtchn_close(h);
			return;
		default:
			FAIL("granter: command %u", cmd);
		}
		th_send_u32(&s->g.reply, n);
	}
}

/* ---- the mapper (domain B) ------------------------------------------------- */

struct mapper_state {
	struct gnttab_map_grant_ref *ops;
	char *va;
	gnt_evtchn_handle *h;
	int raw;
};

static uint32_t mapper_map(struct scale *s, struct mapper_state *ms)
{
	uint32_t n = 0;

	ms->ops = calloc(s->npages, sizeof(*ms->ops));
	ms->va = gnt_alloc_ballooned_pages(s->npages + 1);
	CHECK(ms->ops && ms->va);
	for (uint32_t i = 0; i < s->npages; i++)
		gnt_set_map_op(&ms->ops[i], ms->va + (size_t)i * GNT_PAGE_SIZE, GNTMAP_host_map,
			       s->first + i, (domid_t)s->a);
	for (uint32_t i = 0; i < s->npages; i += MAP_BATCH)
		CHECK_EQ(gnt_map_refs(&ms->ops[i], s->npages - i < MAP_BATCH ? s->npages - i
									 : MAP_BATCH),
			 0);
	for (uint32_t i = 0; i < s->npages; i++)
		n += ms->ops[i].status == GNTST_okay;
	return n;
}

static uint32_t mapper_bind(struct scale *s, struct mapper_state *ms)
{
	uint32_t n = 0;

	th_recv(&s->self->cmd, s->ports, sizeof(s->ports));
	ms->h = gnt_evtchn_open();
	CHECK(ms->h);
	for (uint32_t i = 0; i < NPORTS; i++)
		n += gnt_evtchn_bind_interdomain(ms->h, (domid_t)s->a, s->ports[i]) > 0;
	return n;
}

/* Every 64th page and the last: its number, as the granter wrote it. */
static uint32_t mapper_read(struct scale *s, struct mapper_state *ms)
{
	for (uint32_t i = 0; i < s->npages; i++) {
		char *pg = ms->va + (size_t)i * GNT_PAGE_SIZE;
		uint32_t v;
		if (i % 64 && i != s->npages - 1)
			continue;
		memcpy(&v, pg, sizeof(v));
		CHECK_EQ(v, i);
		strcpy(pg + 2048, "mapper writes");
		CHECK(!strcmp(pg + 2048, "mapper writes"));
	}
	return 1;
}

static uint32_t mapper_map_again(struct scale *s, struct mapper_state *ms)
{
	struct gnttab_map_grant_ref op;

	gnt_set_map_op(&op, ms->va + (size_t)s->npages * GNT_PAGE_SIZE, GNTMAP_host_map,
		       s->first, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK(op.status != GNTST_okay);
	return (uint32_t)(uint16_t)op.status;
}

static uint32_t mapper_unmap(struct scale *s, struct mapper_state *ms)
{
	struct gnttab_unmap_grant_ref *un = calloc(s->npages, sizeof(*un));
	uint32_t n = 0;

	CHECK(un);
	for (uint32_t i = 0; i < s->npages; i++)
		gnt_set_unmap_op(&un[i], ms->va + (size_t)i * GNT_PAGE_SIZE, 0,
				 ms->ops[i].handle);
	for (uint32_t i = 0; i < s->npages; i += MAP_BATCH)
		CHECK_EQ(gnt_unmap_refs(&un[i], s->npages - i < MAP_BATCH ? s->npages - i
									  : MAP_BATCH),
			 0);
	for (uint32_t i = 0; i < s->npages; i++)
		n += un[i].status == GNTST_okay;
	free(un);
	return n;
}

/* One map request of every page on a connection of its own, whose reply
 * this process never reads: it is killed first. */
static uint32_t mapper_raw_map(struct scale *s, struct mapper_state *ms, uint32_t aux)
{
	struct gnttab_map_grant_ref *ops = calloc(s->npages, sizeof(*ops));
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref),
			    .count = s->npages, .len = s->npages * (uint32_t)sizeof(*ops),
			    .aux = aux};

	CHECK(ops);
	for (uint32_t i = 0; i < s->npages; i++) {
		ops[i].flags = GNTMAP_host_map;
		ops[i].ref = s->first + i;
		ops[i].dom = (domid_t)s->a;
	}
	ms->raw = th_raw_attach();
	CHECK_EQ(th_raw_send(ms->raw, &m, ops, m.len, NULL, 0), 0);
	free(ops);
	return 1;
}

static void mapper(void *p)
{
	struct scale *s = p;
	struct proc *me = s->self;
	struct mapper_state ms = {.raw = -1};

	for (;;) {
		uint32_t cmd = th_recv_u32(&me->cmd), n = 0;
		switch (cmd) {
		case CMD_MAP:
			s->first = th_recv_u32(&me->cmd);
			n = mapper_map(s, &ms);
			break;
		case CMD_BIND:
			n = mapper_bind(s, &ms);
			break;
		case CMD_READ:
			n = mapper_read(s, &ms);
			break;
		case CMD_MAP_AGAIN:
			n = mapper_map_again(s, &ms);
			break;
		case CMD_UNMAP:
			n = mapper_unmap(s, &ms);
			break;
		case CMD_RAW_MAP:
			s->first = th_recv_u32(&me->cmd);
			n = mapper_raw_map(s, &ms, th_recv_u32(&me->cmd));
			break;
		case CMD_PING:
			n = 1;
			break;
		case CMD_EXIT:
			return;
		default:
			FAIL("mapper: command %u", cmd);
		}
		th_send_u32(&me->reply, n);
	}
}

/* ---- set-up and tear-down -------------------------------------------------- */

static void proc_chans(struct proc *p, bool open)
{
	if (open) {
		th_chan_open(&p->cmd);
		th_chan_open(&p->reply);
	} else {
		th_chan_close(&p->cmd);
		th_chan_close(&p->reply);
	}
}

static void start(struct scale *s, uint32_t npages)
{
	struct gnt_domain_config cfg = {.max_grant_frames = MAX_GRANT_FRAMES};

	memset(s, 0, sizeof(*s));
	s->npages = npages;
	th_gntd_start();
	s->start = th_stats();
	s->a = th_domain_cfg("A", &cfg);
	s->b = th_domain("B");
	proc_chans(&s->g, true);
	proc_chans(&s->m, true);
	s->g.pid = th_spawn(s->a, granter, s);
	s->self = &s->m;
	s->m.pid = th_spawn(s->b, mapper, s);
}

static void finish(struct scale *s)
{
	th_expect_stats(&s->start, 10000);
	proc_chans(&s->g, false);
	proc_chans(&s->m, false);
	th_gntd_stop();
}

static void grant_and_map(struct scale *s)
{
	th_send_u32(&s->g.cmd, CMD_GRANT);
	s->first = th_recv_u32_from(&s->g.reply, s->g.pid);
	th_send_u32(&s->m.cmd, CMD_MAP);
	th_send_u32(&s->m.cmd, s->first);
	CHECK_EQ(th_recv_u32_from(&s->m.reply, s->m.pid), s->npages);
	CHECK_EQ(th_dominfo(s->b).mappings, s->npages);
}

static void kill_proc(struct proc *p)
{
	th_kill_wait(p->pid);
	p->pid = 0;
}

static void exit_proc(struct proc *p)
{
	th_send_u32(&p->cmd, CMD_EXIT);
	CHECK_EQ(th_wait(p->pid), 0);
	p->pid = 0;
}

static void wait_gone(uint32_t dom)
{
	th_wait_domain_gone(dom, 10000);
}

/* ---- @releaseDomain, counted by dom0 ---------------------------------------- */

static void release_watch(struct scale *s)
{
	char *path, *token;
	void *block;

	s->xs = gnt_xs_open(); /* the test process is dom0 */
	CHECK(s->xs);
	CHECK_EQ(gnt_xs_watch(s->xs, "@releaseDomain", "rel"), 0);
	/* a new watch fires once at once (Xen) */
	CHECK_EQ(gnt_xs_read_watch(s->xs, &path, &token, &block, 5000), 0);
	CHECK(!strcmp(path, "@releaseDomain"));
	free(block);
	CHECK_EQ(gnt_xs_watch(s->xs, "/scale-sync", "sync"), 0);
	CHECK_EQ(gnt_xs_read_watch(s->xs, &path, &token, &block, 5000), 0);
	free(block);
}

/* @releaseDomain events since the last call: a write to /scale-sync is
 * queued behind every event fired before it, so its own event ends the
 * count without waiting for anything that might still come. */
static uint32_t releases_seen(struct scale *s)
{
	uint32_t n = 0;

	CHECK_EQ(gnt_xs_write(s->xs, 0, "/scale-sync", "x", 1), 0);
	for (;;) {
		char *path, *token;
		void *block;
		int sync;

		CHECK_EQ(gnt_xs_read_watch(s->xs, &path, &token, &block, 5000), 0);
		sync = !strcmp(token, "sync");
		n += !strcmp(path, "@releaseDomain");
		free(block);
		if (sync)
			return n;
	}
}

/* ---- other domains at work meanwhile ---------------------------------------- */

static void keeper(void *p)
{
	struct scale *s = p;
	uint32_t v;

	/* plain read: no channel timeout, this one waits as long as the test */
	while (read(s->keep.rd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static void looper(void *p)
{
	struct scale *s = p;

	while (!atomic_load(&s->r->stop)) {
		uint32_t i = atomic_load(&s->r->n);
		CHECK(i < MAX_ROUNDS);
		s->r->t0[i] = now_ns();
		th_share_once(s->c, s->d);
		s->r->t1[i] = now_ns();
		atomic_store(&s->r->n, i + 1); /* publish the round's times */
	}
}

static int rounds_reached(void *p)
{
	struct scale *s = p;
	return atomic_load(&s->r->n) >= s->want_rounds;
}

static void wait_rounds(struct scale *s, uint32_t want)
{
	s->want_rounds = want;
	if (!th_until(rounds_reached, s, 20000))
		FAIL("C and D: only %u rounds, want %u", atomic_load(&s->r->n), want);
}

static void others_start(struct scale *s)
{
	s->r = mmap(NULL, sizeof(*s->r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	CHECK(s->r != MAP_FAILED);
	s->c = th_domain("C");
	s->d = th_domain("D");
	th_chan_open(&s->keep);
	s->keep_c = th_spawn(s->c, keeper, s);
	s->keep_d = th_spawn(s->d, keeper, s);
	s->looper = th_spawn_dom0(looper, s);
	wait_rounds(s, 1);
}

/* Stop after two more whole rounds.  worst[0]: the longest round that
 * overlapped [t_from, t_to], worst[1]: the longest before, in
 * microseconds. */
static void others_stop(struct scale *s, uint64_t t_from, uint64_t t_to, uint64_t worst[2])
{
	uint32_t n;

	wait_rounds(s, atomic_load(&s->r->n) + 2);
	atomic_store(&s->r->stop, 1);
	CHECK_EQ(th_wait(s->looper), 0); /* every round completed */
	n = atomic_load(&s->r->n);
	worst[0] = worst[1] = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t us = (s->r->t1[i] - s->r->t0[i]) / 1000;
		uint64_t *w = &worst[s->r->t1[i] < t_from];
		if (s->r->t0[i] <= t_to && us > *w)
			*w = us;
	}
	th_send_u32(&s->keep, 0);
	th_send_u32(&s->keep, 0);
	CHECK_EQ(th_wait(s->keep_c), 0);
	CHECK_EQ(th_wait(s->keep_d), 0);
	th_chan_close(&s->keep);
	wait_gone(s->c);
	wait_gone(s->d);
	munmap(s->r, sizeof(*s->r));
}

/* ---- 1. a caller killed with its reply unread -------------------------------- */

static int procs_are(void *p)
{
	uint32_t *v = p;
	return th_dominfo(v[0]).procs == v[1];
}

static int mappings_are(void *p)
{
	uint32_t *v = p;
	return th_dominfo(v[0]).mappings == v[1];
}

/* B's second process sends a map of RAW_OPS grants and dies before it
 * reads the reply; B's first process keeps the domain alive.  `left`: the
 * mappings B holds afterwards. */
static void raw_map_killed(uint32_t aux, uint32_t left)
{
	struct scale s;
	struct proc raw;
	uint32_t want[2], procs;

	start(&s, RAW_OPS);
	th_send_u32(&s.g.cmd, CMD_GRANT);
	s.first = th_recv_u32_from(&s.g.reply, s.g.pid);
	CHECK_EQ(call(&s.m, CMD_PING), 1);
	procs = th_dominfo(s.b).procs; /* B's first process's connections */
	proc_chans(&raw, true);
	s.self = &raw;
	raw.pid = th_spawn(s.b, mapper, &s);
	th_send_u32(&raw.cmd, CMD_RAW_MAP);
	th_send_u32(&raw.cmd, s.first);
	th_send_u32(&raw.cmd, aux);
	CHECK_EQ(th_recv_u32_from(&raw.reply, raw.pid), 1);
	want[0] = s.b;
	want[1] = RAW_OPS;
	CHECK(th_until(mappings_are, want, 10000)); /* gntd has served it */
	kill_proc(&raw);
	want[1] = procs;
	if (!th_until(procs_are, want, 10000)) /* its connections are closed */
		FAIL("B has %u processes, mappings %u", th_dominfo(s.b).procs, th_dominfo(s.b).mappings);
	CHECK_EQ(th_dominfo(s.b).state, 1);
	CHECK_EQ(th_dominfo(s.b).mappings, left);
	/* what B still maps, A cannot end */
	CHECK_EQ(call(&s.g, CMD_END), RAW_OPS - left);
	if (left) {
		CHECK_EQ(gnt_domain_destroy(s.b), 0);
		CHECK_EQ(th_wait(s.m.pid), 128 + SIGKILL);
		s.m.pid = 0;
		wait_gone(s.b);
		CHECK_EQ(call(&s.g, CMD_END), left);
	} else {
		exit_proc(&s.m);
		wait_gone(s.b);
	}
	CHECK_EQ(call(&s.g, CMD_FREE), 1);
	exit_proc(&s.g);
	wait_gone(s.a);
	proc_chans(&raw, false);
	finish(&s);
}

TEST(killed_before_reading_a_plain_map_leaves_it_to_the_domain)
{
	raw_map_killed(0, RAW_OPS);
}

TEST(killed_before_reading_an_owned_map_unmaps_it)
{
	raw_map_killed(GNT_HC_OWNED, 0);
}

/* ---- 2. the grantee dies holding 65 536 mappings and 1000 ports --------------- */

/* A's ports (dom0 asks EVTCHNOP_status) in state `want` towards B. */
static uint32_t ports_of_a(struct scale *s, uint32_t want)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < NPORTS; i++) {
		struct evtchn_status st = {.dom = (domid_t)s->a, .port = s->ports[i]};
		CHECK_EQ(gnt_evtchn_status(&st), 0);
		n += st.status == want && (want == EVTCHNSTAT_unbound ? st.u.unbound.dom
								    : st.u.interdomain.dom) == s->b;
	}
	return n;
}

TEST_TIMEOUT(grantee_death_at_scale_releases_once_while_others_run, 120)
{
	struct scale s;
	uint64_t t0, t1, worst[2];

	start(&s, BIG_PAGES);
	release_watch(&s);
	grant_and_map(&s);
	th_send_u32(&s.g.cmd, CMD_PORTS);
	th_recv(&s.g.reply, s.ports, sizeof(s.ports));
	th_send_u32(&s.m.cmd, CMD_BIND);
	th_send(&s.m.cmd, s.ports, sizeof(s.ports));
	CHECK_EQ(th_recv_u32_from(&s.m.reply, s.m.pid), NPORTS);
	CHECK_EQ(ports_of_a(&s, EVTCHNSTAT_interdomain), NPORTS);
	others_start(&s);
	CHECK_EQ(releases_seen(&s), 0);

	t0 = now_ns();
	kill_proc(&s.m);
	wait_gone(s.b);
	t1 = now_ns();
	CHECK_EQ(releases_seen(&s), 1);
	others_stop(&s, t0, t1, worst);
	fprintf(stderr, "  [info] %u mappings, %u ports: B gone %llu ms after SIGKILL; "
			"longest C/D round meanwhile %llu us (before: %llu us)\n",
		BIG_PAGES, NPORTS, (unsigned long long)((t1 - t0) / 1000000),
		(unsigned long long)worst[0], (unsigned long long)worst[1]);
	CHECK_EQ(releases_seen(&s), 2); /* C's and D's; none more for B */

	CHECK_EQ(th_stats().mappings, 0);
	/* B's ends closed: A's ports are unbound again, still towards B (Xen) */
	CHECK_EQ(ports_of_a(&s, EVTCHNSTAT_unbound), NPORTS);
	CHECK_EQ(call(&s.g, CMD_END), BIG_PAGES);
	CHECK_EQ(call(&s.g, CMD_FREE), 1);
	exit_proc(&s.g);
	wait_gone(s.a);
	gnt_xs_close(s.xs);
	finish(&s);
}

/* ---- 3. the granter of 65 536 mapped pages dies ------------------------------- */

TEST_TIMEOUT(granter_death_at_scale_is_a_zombie_until_unmapped, 120)
{
	struct scale s;
	uint64_t t0;

	start(&s, BIG_PAGES);
	release_watch(&s);
	grant_and_map(&s);
	kill_proc(&s.g);
	th_wait_domain_dying(s.a, 10000);
	CHECK_EQ(th_dominfo(s.a).state, 2);
	CHECK_EQ(th_dominfo(s.a).procs, 0);
	CHECK_EQ(releases_seen(&s), 1);
	/* B keeps reading and writing; nothing new against a dying granter */
	CHECK_EQ(call(&s.m, CMD_READ), 1);
	CHECK_EQ(call(&s.m, CMD_MAP_AGAIN), (uint16_t)GNTST_general_error);
	CHECK_EQ(th_stats().frames, BIG_PAGES);

	t0 = now_ns();
	CHECK_EQ(call(&s.m, CMD_UNMAP), BIG_PAGES);
	wait_gone(s.a);
	fprintf(stderr, "  [info] zombie of %u pages gone %llu ms after its mapper's unmap began\n",
		BIG_PAGES, (unsigned long long)((now_ns() - t0) / 1000000));
	CHECK_EQ(releases_seen(&s), 0); /* the zombie's end fires nothing more */
	exit_proc(&s.m);
	wait_gone(s.b);
	CHECK_EQ(releases_seen(&s), 1);
	gnt_xs_close(s.xs);
	finish(&s);
}
