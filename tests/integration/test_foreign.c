/* SPDX-License-Identifier: MIT */
/*
 * Foreign pages in libgnt (gnt/foreign.h): identifying an address as part of
 * a mapping of {domid, gref}, page references, and the safe unmap that
 * waits for them (Linux's gnttab_unmap_refs_async/_sync).  Domain A grants
 * NPAGES pages of one unit to B; a process of B maps them all and runs one
 * scenario, which must leave nothing mapped; then A ends every grant, which
 * succeeds only if the unmaps really happened.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define NPAGES 4
#define PG 4096

struct fx {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	grant_ref_t refs[NPAGES];
	void (*scenario)(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops);
};

/* What a done callback saw. */
struct rec {
	int calls, result;
	pthread_t thread;
};

static void on_done(int result, struct gnt_unmap_queue_data *item)
{
	struct rec *r = item->data;

	r->result = result;
	r->thread = pthread_self();
	__atomic_fetch_add(&r->calls, 1, __ATOMIC_RELEASE); /* result first */
}

static int calls(const struct rec *r)
{
	return __atomic_load_n(&r->calls, __ATOMIC_ACQUIRE);
}

static int called(void *p)
{
	return calls(p) > 0;
}

struct aging {
	struct gnt_unmap_queue_data *item;
	unsigned int until;
};

static int has_aged(void *p)
{
	struct aging *a = p;
	return __atomic_load_n(&a->item->age, __ATOMIC_RELAXED) >= a->until;
}

/* Wait until the library thread has checked item n more times (while a
 * page is held, each check must find it in use). */
static void checked(struct gnt_unmap_queue_data *item, unsigned int n)
{
	struct aging a = {item, __atomic_load_n(&item->age, __ATOMIC_RELAXED) + n};
	CHECK(th_until(has_aged, &a, 10000));
}

static void unmap_ops(struct gnttab_unmap_grant_ref *un, char *va,
		      const struct gnttab_map_grant_ref *ops, unsigned int first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		gnt_set_unmap_op(&un[i], va + (size_t)(first + i) * PG, GNTMAP_host_map,
				 ops[first + i].handle);
}

static void item_init(struct gnt_unmap_queue_data *item, struct rec *r,
		      struct gnttab_unmap_grant_ref *un, unsigned int n)
{
	memset(item, 0, sizeof(*item));
	memset(r, 0, sizeof(*r));
	item->done = on_done;
	item->data = r;
	item->unmap_ops = un;
	item->count = n;
}

static void check_okay(const struct gnttab_unmap_grant_ref *un, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		CHECK_EQ(un[i].status, GNTST_okay);
}

/* Pages [first, first+n) of va: mapped from A's refs, or not at all. */
static void check_mapped(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops,
			 unsigned int first, unsigned int n, int mapped)
{
	for (unsigned int i = first; i < first + n; i++) {
		char *ends[2] = {va + (size_t)i * PG, va + (size_t)i * PG + PG - 1};
		for (int e = 0; e < 2; e++) {
			struct gnt_foreign f = {0};
			CHECK_EQ(gnt_page_foreign(ends[e], &f), mapped);
			CHECK_EQ(gnt_page_foreign(ends[e], NULL), mapped);
			CHECK_EQ(th_can_read(ends[e]), mapped);
			if (!mapped)
				continue;
			CHECK_EQ(f.domid, s->a);
			CHECK_EQ(f.gref, s->refs[i]);
			CHECK_EQ(f.handle, ops[i].handle);
		}
	}
}

static void granter(void *p)
{
	struct fx *s = p;
	char *buf = gnt_alloc_pages(NPAGES);

	CHECK(buf);
	for (unsigned int i = 0; i < NPAGES; i++) {
		int r = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(buf + i * PG), 0);
		CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
		s->refs[i] = (grant_ref_t)r;
		buf[i * PG] = (char)('a' + i);
	}
	th_send(&s->to_b, s->refs, sizeof(s->refs));
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	for (unsigned int i = 0; i < NPAGES; i++)
		CHECK_EQ(gnt_try_end_foreign_access(s->refs[i]), 1);
	gnt_free_pages(buf, NPAGES);
}

static void mapper(void *p)
{
	struct fx *s = p;
	struct gnttab_map_grant_ref ops[NPAGES];
	char *va = gnt_alloc_ballooned_pages(NPAGES);

	CHECK(va);
	th_recv(&s->to_b, s->refs, sizeof(s->refs));
	for (unsigned int i = 0; i < NPAGES; i++)
		gnt_set_map_op(&ops[i], va + i * PG, GNTMAP_host_map, s->refs[i], (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(ops, NPAGES), 0);
	for (unsigned int i = 0; i < NPAGES; i++) {
		CHECK_EQ(ops[i].status, GNTST_okay);
		CHECK_EQ(va[i * PG], 'a' + i);
	}
	s->scenario(s, va, ops);
	check_mapped(s, va, ops, 0, NPAGES, 0);
	gnt_free_ballooned_pages(va, NPAGES);
	th_send_u32(&s->to_a, 1);
}

/* The fixture; with kill_gntd, the scenario sends 1 on to_t when gntd may
 * die, gntd is killed, and the scenario ends its process itself. */
static void run_fx(void (*scenario)(struct fx *, char *, const struct gnttab_map_grant_ref *),
		   int kill_gntd)
{
	struct fx s = {.scenario = scenario};
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
	if (kill_gntd) {
		CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
		CHECK_EQ(kill(th_gntd_pid(), SIGKILL), 0);
		CHECK_EQ(th_wait(th_gntd_pid()), 128 + SIGKILL);
		CHECK_EQ(th_wait(pb), 0);
		kill(pa, SIGKILL); /* it waits for a mapper that will not report */
		CHECK_EQ(th_wait(pa), 128 + SIGKILL);
		gnt_close(); /* our dom0 connection to the dead gntd */
	} else {
		CHECK_EQ(th_wait(pb), 0);
		CHECK_EQ(th_wait(pa), 0);
		th_expect_stats(&start, 5000);
		th_gntd_stop();
	}
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
}

static void run(void (*scenario)(struct fx *, char *, const struct gnttab_map_grant_ref *))
{
	run_fx(scenario, 0);
}

/* ---- safe unmap ---------------------------------------------------------- */

/* No page held: unmapped at once, done called before the call returns. */
static void immediate(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct gnt_unmap_queue_data item;
	struct rec r;

	unmap_ops(un, va, ops, 0, NPAGES);
	item_init(&item, &r, un, NPAGES);
	gnt_unmap_refs_async(&item);
	CHECK_EQ(calls(&r), 1);
	CHECK_EQ(r.result, 0);
	CHECK(pthread_equal(r.thread, pthread_self()));
	CHECK_EQ(item.age, 0);
	check_okay(un, NPAGES);
	/* count 0 is done at once too, and the sync variant takes the same path */
	item_init(&item, &r, un, 0);
	gnt_unmap_refs_async(&item);
	CHECK_EQ(calls(&r), 1);
	CHECK_EQ(r.result, 0);
	item_init(&item, &r, un, 65537);
	CHECK_EQ(gnt_unmap_refs_sync(&item), -EINVAL);
}

TEST(unmap_async_immediate)
{
	run(immediate);
}

/* Two items, each with a page held: neither goes while its page is held
 * (however often the thread checks), each goes once its page is put, and
 * each done is called exactly once, from the library thread. */
static void deferred(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct gnt_unmap_queue_data it1, it2;
	struct rec r1, r2;
	void *pages2[2] = {va + 2 * PG + PG - 1, va + 3 * PG + 17}; /* any byte will do */

	CHECK_EQ(gnt_page_count(va + PG + 5), 1);
	CHECK_EQ(gnt_page_get(va + PG + PG - 1), 0);
	CHECK_EQ(gnt_page_count(va + PG), 2);
	CHECK_EQ(gnt_page_get(va + 3 * PG), 0);
	CHECK_EQ(gnt_page_get(va + 3 * PG + 100), 0);
	CHECK_EQ(gnt_page_count(va + 3 * PG), 3);
	unmap_ops(un, va, ops, 0, NPAGES);
	item_init(&it1, &r1, un, 2);
	item_init(&it2, &r2, un + 2, 2);
	it2.pages = pages2;
	gnt_unmap_refs_async(&it1);
	gnt_unmap_refs_async(&it2);
	checked(&it1, 2);
	checked(&it2, 2);
	CHECK_EQ(calls(&r1), 0);
	CHECK_EQ(calls(&r2), 0);
	check_mapped(s, va, ops, 0, NPAGES, 1); /* nothing went, all usable */
	CHECK_EQ(gnt_page_count(va), 1);      /* an idle page of a waiting item */

	CHECK_EQ(gnt_page_put(va + PG), 0);
	CHECK(th_until(called, &r1, 10000));
	CHECK_EQ(r1.result, 0);
	CHECK(!pthread_equal(r1.thread, pthread_self()));
	check_okay(un, 2);
	check_mapped(s, va, ops, 0, 2, 0);
	CHECK_EQ(gnt_page_get(va + PG), -ENOENT);
	CHECK_EQ(calls(&r2), 0);
	check_mapped(s, va, ops, 2, 2, 1);

	CHECK_EQ(gnt_page_put(va + 3 * PG), 0);
	checked(&it2, 2); /* still waiting: one reference is left */
	CHECK_EQ(calls(&r2), 0);
	CHECK_EQ(gnt_page_put(va + 3 * PG), 0);
	CHECK_EQ(gnt_page_put(va + 3 * PG), -EINVAL); /* the mapping's own stays */
	CHECK(th_until(called, &r2, 10000));
	CHECK_EQ(r2.result, 0);
	check_okay(un + 2, 2);
	/* the first item has been through the queue many times since it was done */
	CHECK_EQ(calls(&r1), 1);
	CHECK_EQ(calls(&r2), 1);
	CHECK_EQ(gnt_page_put(va + 3 * PG), -ENOENT);
	CHECK_EQ(gnt_page_count(va + 3 * PG), -ENOENT);
}

TEST(unmap_async_deferred_while_page_held)
{
	run(deferred);
}

struct syncer {
	struct gnt_unmap_queue_data item;
	int result;
};

static void *sync_thread(void *p)
{
	struct syncer *y = p;
	y->result = gnt_unmap_refs_sync(&y->item);
	return NULL;
}

/* The sync variant waits for the page another thread holds. */
static void sync_waits(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct syncer y = {.result = 1};
	pthread_t t;

	unmap_ops(un, va, ops, 0, NPAGES);
	memset(&y.item, 0, sizeof(y.item));
	y.item.unmap_ops = un + 1;
	y.item.count = NPAGES - 1;
	CHECK_EQ(gnt_page_get(va + 2 * PG), 0);
	CHECK_EQ(pthread_create(&t, NULL, sync_thread, &y), 0);
	checked(&y.item, 2);
	CHECK_EQ(y.result, 1);
	check_mapped(s, va, ops, 1, NPAGES - 1, 1);
	CHECK_EQ(gnt_page_put(va + 2 * PG), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(y.result, 0);
	check_okay(un + 1, NPAGES - 1);
	/* and with nothing held, it returns at once */
	memset(&y.item, 0, sizeof(y.item));
	y.item.unmap_ops = un;
	y.item.count = 1;
	CHECK_EQ(gnt_unmap_refs_sync(&y.item), 0);
	CHECK_EQ(y.item.age, 0);
	check_okay(un, 1);
}

TEST(unmap_sync_waits_for_held_page)
{
	run(sync_waits);
}

/* gnt_close() cancels every queued item, async and sync, with -ESHUTDOWN,
 * once; the mappings stay and a later unmap works (it reconnects). */
static void teardown(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct gnt_unmap_queue_data it1, it2, it3;
	struct syncer y = {.result = 1};
	struct rec r1, r2, r3;
	pthread_t t;

	unmap_ops(un, va, ops, 0, NPAGES);
	CHECK_EQ(gnt_page_get(va), 0);
	CHECK_EQ(gnt_page_get(va + 2 * PG), 0);

	/* queued, and not checked again before gnt_close(): it cancels them
	 * itself, before it returns */
	setenv("GNT_UNMAP_DELAY_MS", "600000", 1);
	item_init(&it1, &r1, un, 2);
	item_init(&it2, &r2, un + 2, 2);
	gnt_unmap_refs_async(&it1);
	gnt_unmap_refs_async(&it2);
	CHECK_EQ(calls(&r1), 0);
	CHECK_EQ(calls(&r2), 0);
	gnt_close();
	CHECK_EQ(calls(&r1), 1);
	CHECK_EQ(calls(&r2), 1);
	CHECK_EQ(r1.result, -ESHUTDOWN);
	CHECK_EQ(r2.result, -ESHUTDOWN);
	CHECK(pthread_equal(r1.thread, pthread_self()));
	check_mapped(s, va, ops, 0, NPAGES, 1);
	for (unsigned int i = 0; i < NPAGES; i++)
		CHECK_EQ(un[i].status, GNTST_general_error); /* untouched */

	/* a waiter being checked over and over is woken with the same error */
	setenv("GNT_UNMAP_DELAY_MS", "1", 1);
	memset(&y.item, 0, sizeof(y.item));
	y.item.unmap_ops = un + 2;
	y.item.count = 2;
	CHECK_EQ(pthread_create(&t, NULL, sync_thread, &y), 0);
	checked(&y.item, 2);
	gnt_close();
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(y.result, -ESHUTDOWN);
	check_mapped(s, va, ops, 0, NPAGES, 1);

	/* a new item after the teardown is served (on a new connection) */
	item_init(&it3, &r3, un + 3, 1);
	CHECK_EQ(gnt_page_get(va + 3 * PG), 0);
	gnt_unmap_refs_async(&it3);
	checked(&it3, 1);
	CHECK_EQ(gnt_page_put(va + 3 * PG), 0);
	CHECK(th_until(called, &r3, 10000));
	CHECK_EQ(r3.result, 0);
	check_okay(un + 3, 1);

	CHECK_EQ(gnt_page_put(va), 0);
	CHECK_EQ(gnt_page_put(va + 2 * PG), 0);
	CHECK_EQ(gnt_unmap_refs(un, 3), 0);
	check_okay(un, 3);
	CHECK_EQ(calls(&r1), 1);
	CHECK_EQ(calls(&r2), 1);
	CHECK_EQ(calls(&r3), 1);
}

TEST(unmap_async_cancelled_by_close)
{
	run(teardown);
}

/* Losing gntd is a teardown too: a queued item is not unmapped (nobody can
 * unmap it now) but ended with -ESHUTDOWN; the mapping itself stays. */
static void gntd_dies(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct gnt_unmap_queue_data item;
	struct rec r;

	setenv("GNT_UNMAP_DELAY_MS", "1", 1);
	unmap_ops(un, va, ops, 0, NPAGES);
	item_init(&item, &r, un, NPAGES);
	CHECK_EQ(gnt_page_get(va), 0);
	gnt_unmap_refs_async(&item);
	checked(&item, 1);
	th_send_u32(&s->to_t, 1);
	CHECK(th_until(called, &r, 10000));
	CHECK_EQ(r.result, -ESHUTDOWN);
	CHECK_EQ(un[0].status, GNTST_general_error);
	CHECK_EQ(va[PG], 'b');
	CHECK_EQ(gnt_page_foreign(va, NULL), 1);
	fflush(NULL);
	_exit(0);
}

TEST(unmap_async_cancelled_when_gntd_dies)
{
	run_fx(gntd_dies, 1);
}

/* Once a check has found the pages idle, no new reference can be taken: a
 * thread that gets and puts the page in a loop either holds it when the
 * check comes (so the unmap waits) or finds it gone, never a reference to a
 * page unmapped under it. */
struct grab {
	char *page;
	unsigned long got;
};

static void *grabber(void *p)
{
	struct grab *g = p;
	int r;

	while ((r = gnt_page_get(g->page)) == 0) {
		/* use it a little: holding most of the time, the unmap's check
		 * is likelier to find it held than not */
		for (int i = 0; i < 64; i++)
			(void)*(volatile char *)(g->page + i * 64);
		g->got++;
		CHECK_EQ(gnt_page_put(g->page), 0);
	}
	CHECK_EQ(r, -ENOENT);
	return NULL;
}

static void racing(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];

	setenv("GNT_UNMAP_DELAY_MS", "1", 1);
	unmap_ops(un, va, ops, 0, NPAGES);
	for (unsigned int i = 0; i < NPAGES; i++) { /* one race per page */
		struct grab g = {.page = va + i * PG};
		pthread_t t;

		CHECK_EQ(pthread_create(&t, NULL, grabber, &g), 0);
		while (!__atomic_load_n(&g.got, __ATOMIC_RELAXED))
			sched_yield();
		CHECK_EQ(gnt_unmap_refs_sync(&(struct gnt_unmap_queue_data){.unmap_ops = &un[i],
									   .count = 1}),
			 0);
		check_okay(&un[i], 1);
		CHECK_EQ(pthread_join(t, NULL), 0);
	}
}

TEST(unmap_async_refuses_new_references)
{
	run(racing);
}

/* ---- foreign-page identification ------------------------------------------ */

#define COPIES 40     /* mappings of each ref: enough to grow the lookup table */
#define SPAN (1u << 14) /* pages they are scattered over */

/* Distinct pseudo-random page indexes below SPAN: scattered addresses make
 * the lookup table's probe runs collide and wrap, as consecutive ones do not. */
static void scatter(unsigned int *at, unsigned int n)
{
	static bool taken[SPAN];
	uint32_t x = 2463534242u;

	for (unsigned int i = 0; i < n; i++) {
		do {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
		} while (taken[x % SPAN]);
		taken[x % SPAN] = true;
		at[i] = x % SPAN;
	}
}

/* Map refs again at n scattered pages of span, check each is found, then
 * unmap them one at a time in a scrambled order (7 and n coprime), checking
 * after each that the rest are still found. */
static void map_scattered(struct fx *s, char *span, unsigned int n)
{
	struct gnttab_map_grant_ref more[NPAGES * COPIES];
	struct gnttab_unmap_grant_ref un;
	char *at_va[NPAGES * COPIES];
	unsigned int at[NPAGES * COPIES];
	bool gone[NPAGES * COPIES] = {0};

	scatter(at, n);
	for (unsigned int i = 0; i < n; i++) {
		at_va[i] = span + (size_t)at[i] * PG;
		gnt_set_map_op(&more[i], at_va[i], GNTMAP_host_map, s->refs[i % NPAGES],
			       (domid_t)s->a);
	}
	CHECK_EQ(gnt_map_refs(more, n), 0);
	for (unsigned int i = 0; i < n; i++) {
		struct gnt_foreign f;
		CHECK_EQ(more[i].status, GNTST_okay);
		CHECK_EQ(gnt_page_foreign(at_va[i] + PG - 1, &f), 1);
		CHECK_EQ(f.gref, s->refs[i % NPAGES]);
		CHECK_EQ(f.handle, more[i].handle);
	}
	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = (k * 7) % n;
		gone[i] = true;
		gnt_set_unmap_op(&un, at_va[i], 0, more[i].handle);
		CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
		CHECK_EQ(un.status, GNTST_okay);
		for (unsigned int j = 0; j < n; j++) {
			struct gnt_foreign f = {0};
			CHECK_EQ(gnt_page_foreign(at_va[j] + 9, &f), !gone[j]);
			if (!gone[j])
				CHECK_EQ(f.handle, more[j].handle);
		}
	}
}

static void lookup(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	char *local = gnt_alloc_page(), *span = gnt_alloc_ballooned_pages(SPAN);
	int on_stack;

	CHECK(local && span);
	check_mapped(s, va, ops, 0, NPAGES, 1);
	CHECK_EQ(gnt_page_foreign(va - 1, NULL), 0);
	CHECK_EQ(gnt_page_foreign(va + NPAGES * PG, NULL), 0);
	CHECK_EQ(gnt_page_foreign(local, NULL), 0);
	CHECK_EQ(gnt_page_foreign(local + PG - 1, NULL), 0);
	CHECK_EQ(gnt_page_foreign(&on_stack, NULL), 0);
	CHECK_EQ(gnt_page_foreign(NULL, NULL), 0);
	CHECK_EQ(gnt_page_get(local), -ENOENT);
	CHECK_EQ(gnt_page_put(va), -EINVAL);

	/* a nearly full small table (its probe runs wrap around), many times;
	 * then one that must grow */
	for (int round = 0; round < 40; round++)
		map_scattered(s, span, NPAGES);
	map_scattered(s, span, NPAGES * COPIES);
	check_mapped(s, va, ops, 0, NPAGES, 1);

	/* the middle page of the first mapping goes; its neighbours stay */
	gnt_set_unmap_op(&un[0], va + PG, 0, ops[1].handle);
	CHECK_EQ(gnt_unmap_refs(un, 1), 0);
	CHECK_EQ(un[0].status, GNTST_okay);
	check_mapped(s, va, ops, 1, 1, 0);
	check_mapped(s, va, ops, 0, 1, 1);
	check_mapped(s, va, ops, 2, 2, 1);
	unmap_ops(un, va, ops, 0, NPAGES);
	CHECK_EQ(gnt_unmap_refs(un, NPAGES), 0);
	CHECK_EQ(un[1].status, GNTST_bad_handle); /* already gone */
	gnt_free_ballooned_pages(span, SPAN);
	gnt_free_page(local);
}

TEST(foreign_lookup_every_page_and_after_unmap)
{
	run(lookup);
}

/* A forked child keeps the mappings, so it sees them as foreign, with the
 * same counts, also after the parent has unmapped (its own mapping stays);
 * an unmap the parent had queued stays the parent's. */
static void forked(struct fx *s, char *va, const struct gnttab_map_grant_ref *ops)
{
	struct gnttab_unmap_grant_ref un[NPAGES];
	struct gnt_unmap_queue_data item;
	struct th_chan go;
	struct rec r;
	pid_t c;

	unmap_ops(un, va, ops, 0, NPAGES);
	item_init(&item, &r, un, NPAGES);
	CHECK_EQ(gnt_page_get(va + 3 * PG + PG - 1), 0);
	gnt_unmap_refs_async(&item);
	checked(&item, 1);
	th_chan_open(&go);
	fflush(NULL);
	c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		check_mapped(s, va, ops, 0, NPAGES, 1);
		CHECK_EQ(gnt_page_count(va + 3 * PG), 2);
		gnt_close(); /* no teardown of the parent's queue here */
		CHECK_EQ(calls(&r), 0);
		CHECK_EQ(th_recv_u32(&go), 1);
		check_mapped(s, va, ops, 0, NPAGES, 1);
		CHECK_EQ(calls(&r), 0);
		fflush(NULL);
		_exit(0);
	}
	CHECK_EQ(gnt_page_put(va + 3 * PG), 0);
	CHECK(th_until(called, &r, 10000));
	CHECK_EQ(r.result, 0);
	check_okay(un, NPAGES);
	check_mapped(s, va, ops, 0, NPAGES, 0);
	th_send_u32(&go, 1);
	CHECK_EQ(th_wait(c), 0);
	th_chan_close(&go);
}

TEST(foreign_lookup_across_fork)
{
	run(forked);
}
