/* SPDX-License-Identifier: MIT */
/*
 * gntd SIGKILLed under two live domains (docs/design.md, "gntd's death"):
 * A grants a page that B maps, a vchan and an event channel join them, B
 * watches a store node.  After the kill every call that needs gntd fails
 * with -ESHUTDOWN at once, blocked waits in B return, B's mapping still
 * reads and writes the page, A cannot end the grant, nobody dies of
 * SIGPIPE.  A new gntd then serves fresh domains, and the old processes
 * still fail cleanly: their descriptor died with the old gntd.  A new gntd
 * on the same uid range first kills what the dead one left there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/vchan.h"
#include "gnt/xs.h"

#define CONTENT "granted by A"
#define BOUND_S 3 /* a call that has not returned by then hangs */

enum { KILLED = 1, RESTARTED, DONE };

struct gd {
	struct th_chan to_a, to_b, from_a, from_b;
	uint32_t a, b;
	char path[96];
};

/* ---- A: the granter and vchan server ------------------------------------ */

static void side_a(void *p)
{
	struct gd *s = p;
	char *page = gnt_alloc_page();
	gnt_evtchn_handle *h = gnt_evtchn_open();
	struct gnt_vchan *v;
	int ref, port;

	CHECK(page && h);
	strcpy(page, CONTENT);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(port > 0);
	v = gnt_vchan_server_init((domid_t)s->b, s->path, 4096, 4096);
	CHECK(v);
	th_send_u32(&s->to_b, (uint32_t)ref);
	th_send_u32(&s->to_b, (uint32_t)port);

	CHECK_EQ(th_recv_u32(&s->to_a), KILLED);
	/* B maps it: the grant may be in use forever, it never ends */
	CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 0);
	CHECK_EQ(gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0), -ESHUTDOWN);
	CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 0);
	gnt_end_foreign_access((grant_ref_t)ref, page);
	gnt_deferred_poll();
	CHECK_EQ(gnt_deferred_count(), 1); /* kept, page not freed */
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), -ESHUTDOWN);
	/* no SIGPIPE from anything that writes to gntd's sockets */
	CHECK(gnt_evtchn_open() == NULL);
	CHECK_EQ(errno, ESHUTDOWN);
	th_send_u32(&s->from_a, DONE);

	CHECK_EQ(th_recv_u32(&s->to_a), RESTARTED);
	CHECK_EQ(gnt_open(), -ESHUTDOWN);
	gnt_vchan_close(v);
	CHECK_EQ(gnt_evtchn_close(h), 0);
	th_send_u32(&s->from_a, DONE);
}

/* ---- B: the mapper, vchan client, watcher -------------------------------- */

struct waiter {
	pthread_t t;
	gnt_evtchn_handle *h;
	struct gnt_vchan *v;
	int rc, err;
};

static void *evtchn_waiter(void *p)
{
	struct waiter *w = p;
	w->rc = gnt_evtchn_wait(w->h);
	return NULL;
}

static void *vchan_reader(void *p)
{
	struct waiter *w = p;
	char c;

	w->rc = gnt_vchan_read(w->v, &c, 1);
	w->err = errno;
	return NULL;
}

/* The thread has returned within BOUND_S. */
static void joined(struct waiter *w, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BOUND_S;
	if (pthread_timedjoin_np(w->t, NULL, &ts) != 0)
		FAIL("%s still blocked %d s after gntd died", what, BOUND_S);
}

/* B's mapping of A's page at va, its handle in *handle. */
static char *map_page(struct gd *s, grant_ref_t ref, grant_handle_t *handle)
{
	char *va = gnt_alloc_ballooned_pages(1);
	struct gnttab_map_grant_ref op = {.host_addr = (uint64_t)(uintptr_t)va,
					  .flags = GNTMAP_host_map, .ref = ref,
					  .dom = (domid_t)s->a};

	CHECK(va);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	*handle = op.handle;
	return va;
}

static void calls_fail(struct gd *s, grant_ref_t ref, char *va, grant_handle_t handle)
{
	char *va2 = gnt_alloc_ballooned_pages(1);
	struct gnttab_map_grant_ref op = {.host_addr = (uint64_t)(uintptr_t)va2,
					  .flags = GNTMAP_host_map, .ref = ref,
					  .dom = (domid_t)s->a, .status = 99};
	struct gnttab_unmap_grant_ref un = {.host_addr = (uint64_t)(uintptr_t)va,
					    .handle = handle, .status = 99};

	CHECK(va2);
	CHECK_EQ(gnt_map_refs(&op, 1), -ESHUTDOWN);
	CHECK_EQ(op.status, 99); /* untouched: the call failed as a whole */
	CHECK_EQ(gnt_unmap_refs(&un, 1), -ESHUTDOWN);
	CHECK_EQ(un.status, 99);
	CHECK_EQ(gnt_domid(), -ESHUTDOWN);
	/* the mapping is the kernel's: it stays, both ways */
	CHECK_EQ(strcmp(va, CONTENT), 0);
	va[100] = 'b';
	CHECK_EQ(va[100], 'b');
}

static void side_b(void *p)
{
	struct gd *s = p;
	grant_ref_t ref = th_recv_u32(&s->to_b);
	evtchn_port_t rport = th_recv_u32(&s->to_b);
	struct waiter we = {.rc = 1}, wv = {.rc = 1};
	grant_handle_t handle;
	char *va = map_page(s, ref, &handle), *path, *token;
	gnt_xs *xs = gnt_xs_open();
	void *block;
	int port;

	CHECK(xs);
	CHECK_EQ(strcmp(va, CONTENT), 0);
	we.h = gnt_evtchn_open();
	CHECK(we.h);
	port = gnt_evtchn_bind_interdomain(we.h, (domid_t)s->a, rport);
	CHECK(port > 0);
	CHECK_EQ(gnt_evtchn_wait(we.h), port); /* a new binding is pending */
	CHECK_EQ(gnt_evtchn_unmask(we.h, (evtchn_port_t)port), 0);
	wv.v = gnt_vchan_client_init((domid_t)s->a, s->path);
	CHECK(wv.v);
	gnt_vchan_set_blocking(wv.v, 1);
	CHECK_EQ(gnt_xs_watch(xs, "data", "tok"), 0);
	CHECK_EQ(gnt_xs_read_watch(xs, &path, &token, &block, 5000), 0); /* the first */
	free(block);
	CHECK_EQ(pthread_create(&we.t, NULL, evtchn_waiter, &we), 0);
	CHECK_EQ(pthread_create(&wv.t, NULL, vchan_reader, &wv), 0);
	th_send_u32(&s->from_b, 1);

	/* wherever the threads are now (asleep or not yet), they return */
	CHECK_EQ(th_recv_u32(&s->to_b), KILLED);
	joined(&we, "gnt_evtchn_wait");
	CHECK_EQ(we.rc, -ESHUTDOWN);
	joined(&wv, "gnt_vchan_read");
	CHECK_EQ(wv.rc, -1);
	CHECK_EQ(wv.err, ESHUTDOWN);
	CHECK_EQ(gnt_xs_read_watch(xs, &path, &token, &block, 5000), -ESHUTDOWN);
	CHECK(gnt_xs_read(xs, 0, "data", NULL) == NULL);
	CHECK_EQ(errno, ESHUTDOWN);
	CHECK_EQ(gnt_evtchn_notify(we.h, (evtchn_port_t)port), -ESHUTDOWN);
	CHECK_EQ(gnt_evtchn_wait(we.h), -ESHUTDOWN);
	CHECK_EQ(gnt_evtchn_pending(we.h), -ESHUTDOWN);
	calls_fail(s, ref, va, handle);
	th_send_u32(&s->from_b, DONE);

	/* the old descriptor cannot make this process a domain of the new
	 * gntd: its other end died with the old one */
	CHECK_EQ(th_recv_u32(&s->to_b), RESTARTED);
	CHECK_EQ(gnt_open(), -ESHUTDOWN);
	gnt_close();
	CHECK_EQ(gnt_open(), -ESRCH);
	CHECK_EQ(strcmp(va, CONTENT), 0);
	gnt_xs_close(xs);
	gnt_vchan_close(wv.v);
	CHECK_EQ(gnt_evtchn_close(we.h), 0);
	th_send_u32(&s->from_b, DONE);
}

/* A gntd for domain uids from a base of ours (per test process: tests of
 * other runs may be going on). */
static void start_at(uid_t area)
{
	char base[32];
	const char *args[] = {"--uid-base", base, NULL};

	snprintf(base, sizeof(base), "%u", (unsigned)(area + (uint32_t)(getpid() & 0xFF) * 0x8000u));
	th_gntd_start_args(args);
}

TEST(gntd_killed_fail_stop)
{
	struct gd s;
	struct gnt_hv_stats s0;
	pid_t pa, pb, gntd;

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	snprintf(s.path, sizeof(s.path), "/local/domain/%u/data/vchan", s.a);
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.from_a);
	th_chan_open(&s.from_b);
	pa = th_spawn(s.a, side_a, &s);
	pb = th_spawn(s.b, side_b, &s);
	CHECK_EQ(th_recv_u32_from(&s.from_b, pb), 1);

	gntd = th_gntd_pid();
	CHECK(gntd > 0);
	CHECK_EQ(kill(gntd, SIGKILL), 0);
	CHECK_EQ(th_wait(gntd), 128 + SIGKILL);
	th_send_u32(&s.to_b, KILLED);
	th_send_u32(&s.to_a, KILLED);
	CHECK_EQ(th_recv_u32_from(&s.from_b, pb), DONE);
	CHECK_EQ(th_recv_u32_from(&s.from_a, pa), DONE);
	CHECK_EQ(gnt_domain_create("C", NULL), -ESHUTDOWN); /* dom0 too */

	/* a range of its own, or it would kill the old A and B first (the
	 * next test) */
	start_at(0x30000000u);
	s0 = th_stats();
	th_share_fresh();
	th_send_u32(&s.to_b, RESTARTED);
	th_send_u32(&s.to_a, RESTARTED);
	CHECK_EQ(th_recv_u32_from(&s.from_b, pb), DONE);
	CHECK_EQ(th_recv_u32_from(&s.from_a, pa), DONE);
	CHECK_EQ(th_wait(pa), 0);
	CHECK_EQ(th_wait(pb), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.from_a);
	th_chan_close(&s.from_b);
	th_gntd_stop();
}

/* A gntd that starts on the uid range a dead one used kills what that one
 * left there (fail-stop): otherwise its new domain 1 would share a uid with
 * the old domain 1's processes, which could then reach the new domain's
 * (ptrace, /proc, signals), and a destroy of the new one would kill them. */
static void linger(void *p)
{
	struct th_chan *c = p;

	th_send_u32(c, 1);
	for (;;)
		pause(); /* until killed */
}

/* The process has ended (a zombie, not reaped yet). */
static int ended(void *p)
{
	char path[64], buf[512], *paren;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)*(pid_t *)p);
	if (!(f = fopen(path, "re")))
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

TEST(gntd_restart_kills_what_the_dead_one_left_in_its_uid_range)
{
	struct th_chan c;
	pid_t old, gntd;
	uint32_t a;

	if (geteuid() != 0)
		FAIL("needs root: domains have uids of their own only then");
	start_at(0x38000000u);
	a = th_domain("A");
	th_chan_open(&c);
	old = th_spawn(a, linger, &c);
	CHECK_EQ(th_recv_u32_from(&c, old), 1);
	gntd = th_gntd_pid();
	CHECK_EQ(kill(gntd, SIGKILL), 0);
	CHECK_EQ(th_wait(gntd), 128 + SIGKILL);
	start_at(0x38000000u); /* the same range */
	CHECK(th_until(ended, &old, 5000));
	CHECK_EQ(th_wait(old), 128 + SIGKILL);
	/* and the range serves new domains, id 1 again among them */
	CHECK_EQ(th_domain("A2"), a);
	th_share_fresh();
	th_chan_close(&c);
	th_gntd_stop();
}
