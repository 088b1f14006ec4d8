/* SPDX-License-Identifier: MIT */
/*
 * lib/unmap_async.c - safe unmap (Linux's gnttab_unmap_refs_async and
 * gnttab_unmap_refs_sync): unmap a batch only once no one holds a reference
 * to its pages, retrying on a timer that backs off as Linux's does.
 *
 * The retries run on a thread of their own, started at the first deferral
 * and kept for the life of the process.  Not grant.c's deferred-end thread:
 * that one ticks once a second (Linux's HZ for ending grants) while this
 * backs off from 5 ms, and one thread per queue keeps each queue's timing
 * and locking its own.  The thread calls gntd only through
 * gnt__unmap_idle, never holding the queue lock, so gnt_close() and new
 * requests never wait for a call to gntd on it.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "gnt/foreign.h"

#define UNMAP_DELAY_NS 5000000ull /* Linux's GNTTAB_UNMAP_REFS_DELAY, 5 ms */

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct gnt_unmap_queue_data *qhead;
static uint64_t qgen; /* teardowns so far: an item of an older gen is cancelled */
static bool qthread;  /* this process has its thread */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int try_unmap(struct gnt_unmap_queue_data *item, bool retry)
{
	return gnt__unmap_idle(item->unmap_ops, item->pages, item->count, retry);
}

static void complete(struct gnt_unmap_queue_data *item, int result)
{
	if (item->done)
		item->done(result, item);
}

/* $GNT_UNMAP_DELAY_MS, read at each deferral so that a test can change it */
static uint64_t delay_ns(void)
{
	const char *e = getenv("GNT_UNMAP_DELAY_MS");
	long ms = e ? strtol(e, NULL, 10) : 0;

	return ms > 0 ? (uint64_t)ms * 1000000ull : UNMAP_DELAY_NS;
}

/* (qlock held) */
static void enqueue(struct gnt_unmap_queue_data *item)
{
	item->link_.due_ns = now_ns() + delay_ns() * ((uint64_t)item->age + 1);
	item->link_.next = qhead;
	qhead = item;
	pthread_cond_signal(&qcond);
}

/* Take the item due first, waiting for it (qlock held). */
static struct gnt_unmap_queue_data *take_due(void)
{
	for (;;) {
		struct gnt_unmap_queue_data **pp, **first = NULL, *it;
		uint64_t now = now_ns();
		struct timespec ts;

		for (pp = &qhead; *pp; pp = &(*pp)->link_.next)
			if (!first || (*pp)->link_.due_ns < (*first)->link_.due_ns)
				first = pp;
		if (!first) {
			pthread_cond_wait(&qcond, &qlock);
			continue;
		}
		it = *first;
		if (it->link_.due_ns <= now) {
			*first = it->link_.next;
			return it;
		}
		ts.tv_sec = (time_t)(it->link_.due_ns / 1000000000ull);
		ts.tv_nsec = (long)(it->link_.due_ns % 1000000000ull);
		pthread_cond_clockwait(&qcond, &qlock, CLOCK_MONOTONIC, &ts);
	}
}

static void *unmap_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&qlock);
	for (;;) {
		struct gnt_unmap_queue_data *item = take_due();
		uint64_t gen = item->link_.gen;
		int r;

		if (item->age != UINT_MAX)
			item->age++;
		pthread_mutex_unlock(&qlock);
		r = try_unmap(item, true);
		pthread_mutex_lock(&qlock);
		if (r == -EBUSY && gen == qgen) {
			enqueue(item);
			continue;
		}
		pthread_mutex_unlock(&qlock);
		complete(item, r == -EBUSY ? -ESHUTDOWN : r);
		pthread_mutex_lock(&qlock);
	}
	return NULL;
}

/* (qlock held) */
static int start_thread(void)
{
	pthread_attr_t a;
	pthread_t t;
	int err;

	if (qthread)
		return 0;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &a, unmap_thread, NULL);
	pthread_attr_destroy(&a);
	if (err)
		return -EAGAIN;
	qthread = true;
	return 0;
}

void gnt_unmap_refs_async(struct gnt_unmap_queue_data *item)
{
	uint64_t gen;
	int r;

	pthread_mutex_lock(&qlock);
	gen = qgen;
	pthread_mutex_unlock(&qlock);
	item->age = 0;
	item->link_.gen = gen;
	r = try_unmap(item, false);
	if (r != -EBUSY) {
		complete(item, r);
		return;
	}
	pthread_mutex_lock(&qlock);
	if (gen != qgen)
		r = -ESHUTDOWN; /* a teardown came between our check and now */
	else
		r = start_thread();
	if (r == 0)
		enqueue(item);
	pthread_mutex_unlock(&qlock);
	if (r < 0)
		complete(item, r);
}

void gnt__unmap_async_cancel(void)
{
	struct gnt_unmap_queue_data *list;

	pthread_mutex_lock(&qlock);
	qgen++;
	list = qhead;
	qhead = NULL;
	pthread_mutex_unlock(&qlock);
	while (list) {
		struct gnt_unmap_queue_data *item = list;
		list = item->link_.next;
		complete(item, -ESHUTDOWN);
	}
}

/* ---- the synchronous variant ---------------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int result;
};

static void wake(int result, struct gnt_unmap_queue_data *item)
{
	struct waiter *w = item->data;

	pthread_mutex_lock(&w->lock);
	w->result = result;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int gnt_unmap_refs_sync(struct gnt_unmap_queue_data *item)
{
	struct waiter w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

	item->done = wake;
	item->data = &w;
	gnt_unmap_refs_async(item);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return w.result;
}

/* ---- fork ------------------------------------------------------------------ */

/* The queue is the parent's: its items (and their done) are the parent's
 * business, and the child has no thread.  Holding qlock across fork() keeps
 * the child's copy of the queue consistent and its lock free. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&qlock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&qlock);
}

static void fork_child(void)
{
	qhead = NULL;
	qthread = false;
	qgen++;
	pthread_cond_init(&qcond, NULL); /* the parent's thread may wait on it */
	pthread_mutex_unlock(&qlock);
}

__attribute__((constructor)) static void unmap_async_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
