/* SPDX-License-Identifier: MIT */
/*
 * One domain must not take all of gntd's descriptors (security-anchors §3.3).
 * gntd runs with a low descriptor limit (--fd-limit).  A hostile domain H
 * makes one-page units (raw populate, 128 a call, then gnt_alloc_page) until
 * refused, and a helper domain M of its maps every one of them twice (read
 * and write: an exposure file each) until refused.  Each refusal is clean
 * (a short populate count, ENOMEM, GNTST_no_space) and stops at the domain's
 * share, far from gntd's limit; meanwhile two other domains still share
 * pages, bind and notify an event channel, and connect new processes.  What
 * H and M hold comes back to nothing when they let go or die.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../helpers.h"

#define FD_LIMIT 3000u
#define RESERVE 256u                      /* gntd's HV_FD_RESERVE */
#define SHARE(n) ((FD_LIMIT - RESERVE) / (n)) /* a domU's, with --fd-share n */
/* a process's connections, charged to its domain: the domain descriptor
 * th_spawn gives it (1) and its own, attached with a pidfd (2) */
#define PROC_FDS 3u
#define BATCH 64u
#define CAP 4096u /* more units than gntd could hold without a budget */

struct fb {
	struct th_chan to_h, to_m, to_t;
	uint32_t h, m, nunits;
	uint64_t gfns[CAP];
	grant_ref_t refs[2 * CAP]; /* per unit: read-write, read-only */
};

/* ---- H: units until refused ------------------------------------------------ */

static uint32_t populate_until_refused(uint64_t *gfns)
{
	uint32_t n = 0;
	long done;

	do {
		struct xen_memory_reservation r = {.extent_start = gfns + n, .nr_extents = 128,
						   .domid = DOMID_SELF};
		CHECK(n + 128 <= CAP);
		done = gnt_memory_op(XENMEM_populate_physmap, &r);
		CHECK(done >= 0 && done <= 128);
		n += (uint32_t)done;
	} while (done == 128);
	return n; /* the last call stopped short, as at max_pages */
}

static void hog(void *p)
{
	struct fb *s = p;
	uint32_t n = populate_until_refused(s->gfns);

	errno = 0;
	CHECK(!gnt_alloc_page()); /* its own unit: refused too */
	CHECK_EQ(errno, ENOMEM);
	for (uint32_t i = 0; i < n; i++) {
		int rw = gnt_grant_foreign_access((domid_t)s->m, s->gfns[i], 0);
		int ro = gnt_grant_foreign_access((domid_t)s->m, s->gfns[i], 1);
		CHECK(rw >= GNTTAB_NR_RESERVED_ENTRIES && ro >= GNTTAB_NR_RESERVED_ENTRIES);
		s->refs[2 * i] = (grant_ref_t)rw;
		s->refs[2 * i + 1] = (grant_ref_t)ro;
	}
	th_send_u32(&s->to_t, n);
	th_send(&s->to_m, s->refs, 2 * n * sizeof(s->refs[0]));
	/* the test checks the others, then either kills us or asks us to let go */
	CHECK_EQ(th_recv_u32(&s->to_h), 1);
	for (uint32_t i = 0; i < 2 * n; i++)
		CHECK_EQ(gnt_try_end_foreign_access(s->refs[i]), 1);
	for (uint32_t i = 0; i < n; i++)
		gnt_free_page(gnt_gfn_to_virt(s->gfns[i]));
	th_send_u32(&s->to_t, 2);
	CHECK_EQ(th_recv_u32(&s->to_h), 3);
}

/* ---- M: H's units mapped until refused ---------------------------------------- */

static uint32_t map_batch(struct fb *s, struct gnttab_map_grant_ref *ops, char *va,
			  uint32_t first, uint32_t n)
{
	uint32_t ok = 0;

	for (uint32_t i = 0; i < n; i++)
		gnt_set_map_op(&ops[first + i], va + (size_t)(first + i) * GNT_PAGE_SIZE,
			       GNTMAP_host_map | ((first + i) % 2 ? GNTMAP_readonly : 0),
			       s->refs[first + i], (domid_t)s->h);
	CHECK_EQ(gnt_map_refs(ops + first, n), 0);
	for (uint32_t i = first; i < first + n; i++) {
		if (ops[i].status == GNTST_okay) {
			CHECK(th_can_read(va + (size_t)i * GNT_PAGE_SIZE));
			ok++;
			continue;
		}
		/* an exposure gntd may not open for us: this op alone fails */
		CHECK_EQ(ops[i].status, GNTST_no_space);
		CHECK_EQ(ops[i].handle, INVALID_GRANT_HANDLE);
	}
	return ok;
}

static void unmap_all(struct gnttab_map_grant_ref *ops, char *va, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct gnttab_unmap_grant_ref u;
		if (ops[i].status != GNTST_okay)
			continue;
		gnt_set_unmap_op(&u, va + (size_t)i * GNT_PAGE_SIZE,
				 GNTMAP_host_map | (i % 2 ? GNTMAP_readonly : 0), ops[i].handle);
		CHECK_EQ(gnt_unmap_refs(&u, 1), 0);
		CHECK_EQ(u.status, GNTST_okay);
	}
}

static void mapper(void *p)
{
	struct fb *s = p;
	uint32_t nops = 2 * s->nunits, ok = 0;
	struct gnttab_map_grant_ref *ops = calloc(nops, sizeof(*ops));
	char *va = gnt_alloc_ballooned_pages(nops);

	CHECK(ops && va);
	th_recv(&s->to_m, s->refs, nops * sizeof(s->refs[0]));
	for (uint32_t i = 0; i < nops; i += BATCH)
		ok += map_batch(s, ops, va, i, nops - i < BATCH ? nops - i : BATCH);
	CHECK(ok < nops); /* refused at some point */
	th_send_u32(&s->to_t, ok);
	CHECK_EQ(th_recv_u32(&s->to_m), 1);
	unmap_all(ops, va, nops);
	gnt_free_ballooned_pages(va, nops);
	free(ops);
	th_send_u32(&s->to_t, 2);
	CHECK_EQ(th_recv_u32(&s->to_m), 3);
}

/* ---- the others: pages, event channels, new processes ------------------------ */

struct evp {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

static void ev_a(void *p)
{
	struct evp *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->b) : -1;

	CHECK(port > 0);
	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* b is bound */
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 2);
	gnt_evtchn_close(h);
}

static void ev_b(void *p)
{
	struct evp *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port;

	CHECK(h);
	port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, (evtchn_port_t)th_recv_u32(&s->to_b));
	CHECK(port > 0);
	CHECK_EQ(th_evtchn_wait(h), port); /* the fresh binding */
	gnt_evtchn_unmask(h, (evtchn_port_t)port);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_evtchn_wait(h), port); /* a's notify */
	th_send_u32(&s->to_a, 2);
	gnt_evtchn_close(h);
}

/* Two fresh domains share a page, and bind and notify an event channel, each
 * step from new processes (new connections). */
static void others_work(void)
{
	struct evp s;
	pid_t pa, pb;

	th_share_fresh();
	s.a = th_domain("evA");
	s.b = th_domain("evB");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, ev_a, &s);
	pb = th_spawn(s.b, ev_b, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
}

/* ---- the tests ----------------------------------------------------------------- */

static void start(struct fb *s, pid_t *ph, pid_t *pm)
{
	th_chan_open(&s->to_h);
	th_chan_open(&s->to_m);
	th_chan_open(&s->to_t);
	s->h = th_domain("H");
	s->m = th_domain("M");
	*ph = th_spawn(s->h, hog, s);
	s->nunits = th_recv_u32_from(&s->to_t, *ph);
	others_work();
	/* refused at its share exactly (a descriptor per unit, besides its
	 * connections), far from the limit */
	CHECK_EQ(s->nunits, SHARE(4) - PROC_FDS);
	CHECK_EQ(th_dominfo(s->h).fds, SHARE(4));
	*pm = th_spawn(s->m, mapper, s);
	/* M's exposures stop at its share (read-only maps of H's units may
	 * stop earlier without exposure files: H's share pays for those) */
	CHECK(th_recv_u32_from(&s->to_t, *pm) <= SHARE(4));
	CHECK(th_dominfo(s->m).fds <= SHARE(4));
	CHECK(th_dominfo(s->h).fds <= SHARE(4));
	CHECK(th_stats().fds < FD_LIMIT - RESERVE);
	others_work();
}

static void stop(struct fb *s)
{
	th_chan_close(&s->to_h);
	th_chan_close(&s->to_m);
	th_chan_close(&s->to_t);
}

static void gntd_low(void)
{
	static const char *const args[] = {"--fd-limit", "3000", NULL};
	th_gntd_start_args(args);
}

/* nothing but its one process's connections */
static int no_fds(void *arg)
{
	return th_dominfo(*(uint32_t *)arg).fds == PROC_FDS;
}

TEST(fd_budget_hog_leaves_room_and_gives_back_all)
{
	struct fb *s = calloc(1, sizeof(*s));
	struct gnt_hv_stats st;
	pid_t ph, pm;

	CHECK(s);
	gntd_low();
	st = th_stats();
	start(s, &ph, &pm);
	/* letting go while alive brings each charge back to nothing */
	th_send_u32(&s->to_m, 1);
	CHECK_EQ(th_recv_u32_from(&s->to_t, pm), 2);
	CHECK(th_until(no_fds, &s->m, 5000));
	th_send_u32(&s->to_h, 1);
	CHECK_EQ(th_recv_u32_from(&s->to_t, ph), 2);
	CHECK(th_until(no_fds, &s->h, 5000));
	th_send_u32(&s->to_m, 3);
	th_send_u32(&s->to_h, 3);
	CHECK_EQ(th_wait(pm), 0);
	CHECK_EQ(th_wait(ph), 0);
	stop(s);
	th_expect_stats(&st, 5000);
	th_gntd_stop();
	free(s);
}

TEST(fd_budget_hog_killed_holding_everything)
{
	struct fb *s = calloc(1, sizeof(*s));
	struct gnt_hv_stats st;
	pid_t ph, pm;

	CHECK(s);
	gntd_low();
	st = th_stats();
	start(s, &ph, &pm);
	kill(ph, SIGKILL);
	kill(pm, SIGKILL);
	th_wait(ph);
	th_wait(pm);
	stop(s);
	th_expect_stats(&st, 5000);
	/* and a new domain gets a whole share again */
	others_work();
	th_gntd_stop();
	free(s);
}

/* --fd-share N: a domU's share is 1/N. */
static void count_units(void *p)
{
	struct fb *s = p;
	th_send_u32(&s->to_t, populate_until_refused(s->gfns));
}

TEST(fd_budget_share_option)
{
	static const char *const args[] = {"--fd-limit", "3000", "--fd-share", "8", NULL};
	struct fb *s = calloc(1, sizeof(*s));
	pid_t p;

	CHECK(s);
	th_gntd_start_args(args);
	th_chan_open(&s->to_t);
	s->h = th_domain("H");
	p = th_spawn(s->h, count_units, s);
	CHECK_EQ(th_recv_u32_from(&s->to_t, p), SHARE(8) - PROC_FDS);
	CHECK_EQ(th_wait(p), 0);
	th_chan_close(&s->to_t);
	th_gntd_stop();
	free(s);
}

/* gntd raises its soft descriptor limit at start (to the hard one at least). */
static unsigned long gntd_soft_nofile(void)
{
	char path[64], line[256];
	unsigned long soft = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)th_gntd_pid());
	f = fopen(path, "re");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14))
			CHECK_EQ(sscanf(line + 14, "%lu", &soft), 1);
	fclose(f);
	return soft;
}

TEST(fd_budget_gntd_raises_its_limit)
{
	struct rlimit old, low;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK(old.rlim_max > 1024);
	low = old;
	low.rlim_cur = 1024; /* gntd inherits this soft limit */
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	th_gntd_start();
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK(gntd_soft_nofile() >= old.rlim_max);
	th_gntd_stop();
}

/* ---- event channels: handles and bindings until refused ------------------- */

#define NP 16u      /* ports the owner O offers the hog E */
#define MAXPROCS 8u /* E's processes: 64 handles each at most (per connection) */

struct eb {
	struct th_chan to_e, to_o, to_t;
	uint32_t e, o;
	uint32_t ports[NP]; /* O's, for E; known before E's processes start */
	bool first;         /* set for E's first process as it forks */
};

/* What a process of E made before it was refused. */
struct eb_report {
	uint32_t handles;   /* opened */
	int32_t open_errno; /* of the refused open; 0: it stopped at 64 */
	int32_t bind_rc;    /* of the refused bind (refused processes only) */
	int32_t rebind_rc;  /* the same bind once a handle is closed */
};

/* Loopback bindings on E's handles until one is refused (past E's share),
 * then the same port bound again once a handle is given back: the refused
 * bind left the port unbound and nothing made. */
static void bind_until_refused(gnt_evtchn_handle **h, uint32_t n, uint32_t dom,
			       struct eb_report *r)
{
	uint32_t i;
	int port = -1;

	/* on one handle: one inbox, inbox(h[i], dom), 2 descriptors */
	for (i = 1; i < n; i++) {
		port = gnt_evtchn_bind_unbound_port(h[i], (domid_t)dom);
		CHECK(port > 0); /* a port costs no descriptor */
		r->bind_rc = gnt_evtchn_bind_interdomain(h[i], (domid_t)dom, (evtchn_port_t)port);
		if (r->bind_rc < 0)
			break;
	}
	CHECK(r->bind_rc < 0);
	gnt_evtchn_close(h[0]);
	h[0] = NULL;
	r->rebind_rc = gnt_evtchn_bind_interdomain(h[i], (domid_t)dom, (evtchn_port_t)port);
}

static void ev_hog(void *p)
{
	struct eb *s = p;
	gnt_evtchn_handle *h[64] = {0};
	struct eb_report r = {0};
	bool first = s->first;

	for (; r.handles < 64; r.handles++) {
		errno = 0;
		if (!(h[r.handles] = gnt_evtchn_open())) {
			r.open_errno = errno;
			break;
		}
		/* the first process binds O's ports: E pays for both inboxes */
		if (first && r.handles < NP)
			CHECK(gnt_evtchn_bind_interdomain(h[r.handles], (domid_t)s->o,
							  s->ports[r.handles]) > 0);
	}
	if (r.open_errno)
		bind_until_refused(h, r.handles, s->e, &r);
	th_send(&s->to_t, &r, sizeof(r));
	CHECK_EQ(th_recv_u32(&s->to_e), 1);
	for (uint32_t i = 0; i < r.handles; i++)
		if (h[i])
			gnt_evtchn_close(h[i]);
	th_send_u32(&s->to_t, 2);
	CHECK_EQ(th_recv_u32(&s->to_e), 3);
}

/* O: one handle, NP ports offered to E; closes when told. */
static void ev_owner(void *p)
{
	struct eb *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();

	CHECK(h);
	for (uint32_t i = 0; i < NP; i++) {
		int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->e);
		CHECK(port > 0);
		s->ports[i] = (uint32_t)port;
	}
	th_send(&s->to_t, s->ports, sizeof(s->ports));
	CHECK_EQ(th_recv_u32(&s->to_o), 1);
	gnt_evtchn_close(h);
	th_send_u32(&s->to_t, 2);
	CHECK_EQ(th_recv_u32(&s->to_o), 3);
}

/* E's processes, one after another, until one is refused below 64
 * handles: that one's refusals are the budget's (EMFILE, then ENOSPC). */
static uint32_t ev_fill(struct eb *s, pid_t *pe)
{
	struct eb_report r;
	uint32_t n = 0;

	do {
		CHECK(n < MAXPROCS);
		s->first = n == 0;
		pe[n] = th_spawn(s->e, ev_hog, s);
		th_recv(&s->to_t, &r, sizeof(r));
		n++;
	} while (!r.open_errno);
	CHECK(r.handles < 64);
	CHECK_EQ(r.open_errno, EMFILE);
	CHECK_EQ(r.bind_rc, -ENOSPC);
	CHECK(r.rebind_rc > 0);
	return n;
}

static void ev_start(struct eb *s, pid_t *po, pid_t *pe, uint32_t *nprocs)
{
	struct gnt_domain_info e;

	th_chan_open(&s->to_e);
	th_chan_open(&s->to_o);
	th_chan_open(&s->to_t);
	s->e = th_domain("E");
	s->o = th_domain("O");
	*po = th_spawn(s->o, ev_owner, s);
	th_recv(&s->to_t, s->ports, sizeof(s->ports));
	*nprocs = ev_fill(s, pe);
	e = th_dominfo(s->e);
	/* at its share, less the bell of the handle it gave back (closed
	 * once gntd sees its last writer go) */
	CHECK(e.fds <= SHARE(4) && e.fds > SHARE(4) - 3);
	/* E's bindings to O's ports cost O nothing: its handle, its process */
	CHECK_EQ(th_dominfo(s->o).fds, PROC_FDS + 3);
	CHECK(th_stats().fds < FD_LIMIT - RESERVE);
	others_work(); /* dom0 creates domains, they connect, bind and share */
}

static void ev_stop(struct eb *s)
{
	th_chan_close(&s->to_e);
	th_chan_close(&s->to_o);
	th_chan_close(&s->to_t);
}

struct fds_is {
	uint32_t dom, want;
};

static int fds_is(void *arg)
{
	struct fds_is *f = arg;
	return th_dominfo(f->dom).fds == f->want;
}

TEST(fd_budget_evtchn_hog_closes_back_to_nothing)
{
	struct eb *s = calloc(1, sizeof(*s));
	struct gnt_hv_stats st;
	struct fds_is f;
	pid_t po, pe[MAXPROCS];
	uint32_t n;

	CHECK(s);
	gntd_low();
	st = th_stats();
	ev_start(s, &po, pe, &n);
	for (uint32_t i = 0; i < n; i++)
		th_send_u32(&s->to_e, 1);
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(th_recv_u32(&s->to_t), 2);
	/* E's bells that O may still ring stay, charged to E, until O lets go */
	f = (struct fds_is){s->e, n * PROC_FDS + NP};
	CHECK(th_until(fds_is, &f, 5000));
	th_send_u32(&s->to_o, 1);
	CHECK_EQ(th_recv_u32_from(&s->to_t, po), 2);
	f.want = n * PROC_FDS;
	CHECK(th_until(fds_is, &f, 5000));
	CHECK_EQ(th_dominfo(s->o).fds, PROC_FDS);
	for (uint32_t i = 0; i < n; i++)
		th_send_u32(&s->to_e, 3);
	th_send_u32(&s->to_o, 3);
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(th_wait(pe[i]), 0);
	CHECK_EQ(th_wait(po), 0);
	ev_stop(s);
	th_expect_stats(&st, 5000);
	th_gntd_stop();
	free(s);
}

TEST(fd_budget_evtchn_hog_killed)
{
	struct eb *s = calloc(1, sizeof(*s));
	struct gnt_hv_stats st;
	pid_t po, pe[MAXPROCS];
	uint32_t n;

	CHECK(s);
	gntd_low();
	st = th_stats();
	ev_start(s, &po, pe, &n);
	for (uint32_t i = 0; i < n; i++)
		kill(pe[i], SIGKILL);
	for (uint32_t i = 0; i < n; i++)
		th_wait(pe[i]);
	/* O goes on, bound to nothing; its own descriptors only */
	th_send_u32(&s->to_o, 1);
	CHECK_EQ(th_recv_u32_from(&s->to_t, po), 2);
	th_send_u32(&s->to_o, 3);
	CHECK_EQ(th_wait(po), 0);
	ev_stop(s);
	th_expect_stats(&st, 5000);
	others_work(); /* and new domains get whole shares again */
	th_gntd_stop();
	free(s);
}

/* ---- connections until refused ------------------------------------------------ */

#define NFLOOD 16u /* domains: HV_MAX_CONNS / HV_MAX_CONNS_PER_DOMAIN */
#define CONN_ROOM (4096u - 64u) /* HV_MAX_CONNS less the control reserve */

struct cf {
	struct th_chan go, to_t;
};

/* A new connection of this process, or -1 when gntd closes it (refused). */
static int attach_checked(void)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_INFO};
	int c = th_raw_attach(), tfd = -1, rc;
	unsigned int nfds = 1;

	CHECK_EQ(th_raw_send(c, &m, NULL, 0, NULL, 0), 0);
	rc = th_raw_recv(c, &m, NULL, 0, &tfd, &nfds, 5000);
	if (rc != 1) {
		CHECK(rc == 0 || rc == -ECONNRESET); /* closed by gntd, no timeout */
		close(c);
		return -1;
	}
	if (nfds)
		close(tfd);
	return c;
}

/* Attach until refused; report how many, hold them until told. */
static void conn_flood(void *p)
{
	struct cf *s = p;
	int socks[256];
	uint32_t n = 0;

	while (n < 256 && (socks[n] = attach_checked()) >= 0)
		n++;
	th_send_u32(&s->to_t, n);
	CHECK_EQ(th_recv_u32(&s->go), 1);
	for (uint32_t i = 0; i < n; i++)
		close(socks[i]);
}

/* dom0, from a new process: a new control connection, a new domain. */
static void dom0_works(void *p)
{
	struct gnt_hv_stats st;
	int d;
	(void)p;

	CHECK_EQ(gnt_hv_stats(&st), 0);
	d = gnt_domain_create("late", NULL);
	CHECK(d > 0);
	CHECK_EQ(gnt_domain_destroy((uint32_t)d), 0);
}

static void flood_release(struct cf *s, const pid_t *pf, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		th_send_u32(&s->go, 1);
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(th_wait(pf[i]), 0);
	th_chan_close(&s->go);
	th_chan_close(&s->to_t);
}

/* A domain's connections are its descriptors of gntd's too: at a share
 * smaller than HV_MAX_CONNS_PER_DOMAIN of them, the share refuses first. */
TEST(fd_budget_connection_flood_stops_at_share)
{
	static const char *const args[] = {"--fd-limit", "3000", "--fd-share", "8", NULL};
	struct gnt_hv_stats st;
	struct cf s;
	uint32_t f, n;
	pid_t pf;

	th_gntd_start_args(args);
	st = th_stats();
	th_chan_open(&s.go);
	th_chan_open(&s.to_t);
	f = th_domain("F");
	pf = th_spawn(f, conn_flood, &s);
	n = th_recv_u32_from(&s.to_t, pf);
	/* a socket and a pidfd each, besides the process's own */
	CHECK_EQ(n, (SHARE(8) - PROC_FDS) / 2);
	CHECK_EQ(th_dominfo(f).fds, PROC_FDS + 2 * n);
	CHECK_EQ(th_wait(th_spawn_dom0(dom0_works, NULL)), 0);
	others_work();
	flood_release(&s, &pf, 1);
	th_expect_stats(&st, 5000);
	th_gntd_stop();
}

/* Domains that fill every connection they may have leave dom0 the
 * reserve: its new control connections still come in. */
TEST(connection_flood_leaves_dom0_its_reserve)
{
	struct gnt_hv_stats st;
	struct cf s;
	pid_t pf[NFLOOD];
	uint32_t total = 0;

	th_gntd_start();
	st = th_stats();
	th_chan_open(&s.go);
	th_chan_open(&s.to_t);
	for (uint32_t i = 0; i < NFLOOD; i++) {
		char name[16];
		snprintf(name, sizeof(name), "F%u", i);
		pf[i] = th_spawn(th_domain(name), conn_flood, &s);
		/* its token and its own connection, and what it attached */
		total += 2 + th_recv_u32_from(&s.to_t, pf[i]);
	}
	CHECK_EQ(total, CONN_ROOM);
	CHECK_EQ(th_wait(th_spawn_dom0(dom0_works, NULL)), 0);
	/* a new domain's first connection is a domain's: no room for it */
	{
		uint32_t late = th_domain("late");
		uid_t u;
		gid_t g;
		CHECK_EQ(gnt_domain_token(late, &u, &g), -EMFILE);
		CHECK_EQ(gnt_domain_destroy(late), 0);
	}
	flood_release(&s, pf, NFLOOD);
	th_expect_stats(&st, 10000);
	th_gntd_stop();
}
