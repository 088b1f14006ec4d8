/* SPDX-License-Identifier: MIT */
/*
 * A mapper at its own descriptor limit (security-anchors §1h-6, §3.3): a map
 * batch of 300 grants of 300 separate units needs 300 descriptors from gntd
 * (two SCM_RIGHTS messages), more than the mapper may hold.  The kernel
 * drops what does not fit (MSG_CTRUNC).  Every op must then be either mapped
 * and showing its own page, or failed with nothing mapped and nothing held
 * in gntd: no mapping may stay in gntd that the process cannot see, and no
 * page may land at another op's address.  With the limit raised, the same
 * batch maps whole, and everything unmaps to gntd's starting figures.  The
 * same for the event channel calls that bring descriptors: a handle opened
 * or a port bound without room for them is undone in gntd.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../helpers.h"

#define NUNITS 300u
#define HEADROOM 40u /* descriptors the mapper may still open */

struct fdl {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
};

static void tag(char *page, uint32_t i)
{
	snprintf(page, 64, "unit %u", i);
}

static int tagged(const char *page, uint32_t i)
{
	char want[64];
	snprintf(want, sizeof(want), "unit %u", i);
	return !strcmp(page, want);
}

static void granter(void *p)
{
	struct fdl *s = p;
	char *pages[NUNITS];
	grant_ref_t refs[NUNITS];

	for (uint32_t i = 0; i < NUNITS; i++) {
		int r;
		pages[i] = gnt_alloc_page(); /* a unit each: a descriptor each */
		CHECK(pages[i]);
		tag(pages[i], i);
		r = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(pages[i]), 1);
		CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
		refs[i] = (grant_ref_t)r;
	}
	th_send(&s->to_b, refs, sizeof(refs));
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* the mapper is done */
	for (uint32_t i = 0; i < NUNITS; i++) {
		CHECK_EQ(gnt_try_end_foreign_access(refs[i]), 1);
		gnt_free_pages(pages[i], 1);
	}
}

static uint32_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	uint32_t n = 0;

	CHECK(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n; /* with ".", ".." and the DIR's own: a little over */
}

/* Map all; check each op; returns how many are mapped. */
static uint32_t map_all(const struct fdl *s, const grant_ref_t *refs, char *va,
			struct gnttab_map_grant_ref *ops)
{
	uint32_t mapped = 0;

	for (uint32_t i = 0; i < NUNITS; i++)
		gnt_set_map_op(&ops[i], va + (size_t)i * GNT_PAGE_SIZE,
			       GNTMAP_host_map | GNTMAP_readonly, refs[i], (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(ops, NUNITS), 0);
	for (uint32_t i = 0; i < NUNITS; i++) {
		char *page = va + (size_t)i * GNT_PAGE_SIZE;
		if (ops[i].status == GNTST_okay) {
			CHECK(th_can_read(page));
			CHECK(tagged(page, i)); /* its own page, not another op's */
			mapped++;
		} else {
			CHECK_EQ(ops[i].status, GNTST_no_space);
			CHECK_EQ(ops[i].handle, INVALID_GRANT_HANDLE);
			CHECK(!th_can_read(page));
		}
	}
	return mapped;
}

static void unmap_all(char *va, const struct gnttab_map_grant_ref *ops)
{
	for (uint32_t i = 0; i < NUNITS; i++) {
		struct gnttab_unmap_grant_ref u;
		if (ops[i].status != GNTST_okay)
			continue;
		gnt_set_unmap_op(&u, va + (size_t)i * GNT_PAGE_SIZE,
				 GNTMAP_host_map | GNTMAP_readonly, ops[i].handle);
		CHECK_EQ(gnt_unmap_refs(&u, 1), 0);
		CHECK_EQ(u.status, GNTST_okay);
	}
}

static void mapper(void *p)
{
	struct fdl *s = p;
	grant_ref_t refs[NUNITS];
	struct gnttab_map_grant_ref *ops = calloc(NUNITS, sizeof(*ops));
	char *va = gnt_alloc_ballooned_pages(NUNITS);
	struct rlimit old, low;
	uint32_t mapped;

	CHECK(ops && va);
	th_recv(&s->to_b, refs, sizeof(refs));
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = open_fds() + HEADROOM;
	CHECK(low.rlim_cur < NUNITS);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	mapped = map_all(s, refs, va, ops);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	CHECK(mapped < NUNITS); /* the limit did bite */
	th_send_u32(&s->to_t, mapped); /* the test compares gntd's count */
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	unmap_all(va, ops);

	/* room again: the same batch maps whole */
	CHECK_EQ(map_all(s, refs, va, ops), NUNITS);
	unmap_all(va, ops);
	gnt_free_ballooned_pages(va, NUNITS);
	free(ops);
	th_send_u32(&s->to_a, 1);
}

TEST(mapper_out_of_descriptors_keeps_nothing_it_cannot_see)
{
	struct fdl s;
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
	/* what the mapper holds is all gntd holds for it */
	CHECK_EQ(th_dominfo(s.b).mappings, th_recv_u32_from(&s.to_t, pb));
	th_send_u32(&s.to_b, 1);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}

/* ---- event channels ------------------------------------------------------ */

struct evl {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b, port;
};

static void ev_owner(void *p)
{
	struct evl *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->b) : -1;

	CHECK(port > 0);
	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* the binder is bound, for real */
	CHECK_EQ(th_evtchn_wait(h), port);   /* a fresh binding is pending */
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 2);
	gnt_evtchn_close(h);
}

/* Run fn with room for only `room` more descriptors. */
static void tight(uint32_t room, void (*fn)(void *), void *arg)
{
	struct rlimit old, low;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = open_fds() - 3 + room; /* ".", ".." and the DIR's own */
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	fn(arg);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
}

static void open_tight(void *arg)
{
	gnt_evtchn_handle **h = arg;

	errno = 0;
	*h = gnt_evtchn_open();
}

struct bind_arg {
	gnt_evtchn_handle *h;
	uint32_t a, port;
	int rc;
};

static void bind_tight(void *arg)
{
	struct bind_arg *b = arg;

	b->rc = gnt_evtchn_bind_interdomain(b->h, (domid_t)b->a, (evtchn_port_t)b->port);
}

static void ev_binder(void *p)
{
	struct evl *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open(), *h2;
	struct bind_arg b = {.h = h, .a = s->a};

	CHECK(h);
	b.port = th_recv_u32(&s->to_b);
	th_send_u32(&s->to_t, 1); /* the test takes gntd's figures */
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	/* a handle's reply brings 4 descriptors, its request takes 2 */
	tight(3, open_tight, &h2);
	CHECK(!h2);
	CHECK_EQ(errno, EMFILE);
	/* a binding's reply brings 3 */
	tight(1, bind_tight, &b);
	CHECK_EQ(b.rc, -EMFILE);
	th_send_u32(&s->to_t, 2); /* nothing of either may stay in gntd */
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	/* the port was given back: it binds now, and works */
	b.rc = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, (evtchn_port_t)b.port);
	CHECK(b.rc > 0);
	CHECK_EQ(th_evtchn_wait(h), b.rc); /* the fresh binding */
	gnt_evtchn_unmask(h, (evtchn_port_t)b.rc);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_evtchn_wait(h), b.rc); /* the owner's notify */
	th_send_u32(&s->to_a, 2);
	gnt_evtchn_close(h);
}

static int fds_back(void *arg)
{
	return th_stats().fds == *(uint32_t *)arg;
}

TEST(evtchn_calls_out_of_descriptors_leave_nothing_in_gntd)
{
	struct evl s;
	struct gnt_hv_stats start;
	uint32_t fds;
	pid_t pa, pb;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, ev_owner, &s);
	pb = th_spawn(s.b, ev_binder, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
	fds = th_stats().fds;
	th_send_u32(&s.to_b, 1);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 2);
	CHECK(th_until(fds_back, &fds, 5000));
	th_send_u32(&s.to_b, 2);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}
