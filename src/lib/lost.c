/* SPDX-License-Identifier: MIT */
/*
 * lib/lost.c - gntd's death as this process sees it (docs/design.md, "gntd's
 * death").  libgnt is fail-stop: once the process knows its gntd is gone,
 * every call that needs gntd fails with -ESHUTDOWN, until gnt_close().  It
 * knows when its connection reports EOF/ECONNRESET/EPIPE, and, while it has
 * event channel handles, from a watcher thread sleeping on a pidfd of gntd:
 * nothing else would wake a gnt_evtchn_wait, since peers also hold write
 * ends of the bell, so it never sees EOF.  The watcher rings every
 * registered bell once the flag is up.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/evtchn_inbox.h"

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static struct gnt__waker *wakers; /* this process's live handles' bells */

/* The watcher of one gntd, for the epoch it served (a late word of an old
 * gntd's death must not fail the connection to a new one). */
struct watcher {
	pthread_t t;
	int pidfd, stopfd;
	pid_t pid;
	uint32_t epoch;
};
static struct watcher *cur; /* while there are wakers and gntd's pid is known */

bool gnt__lost(void)
{
	/* acquire: pairs with the release in gnt__set_lost, so a sleeper
	 * woken by its ring sees the flag */
	return __atomic_load_n(&gnt__g.lost, __ATOMIC_ACQUIRE);
}

uint32_t gnt__epoch(void)
{
	return __atomic_load_n(&gnt__g.epoch, __ATOMIC_RELAXED);
}

void gnt__set_lost(void)
{
	if (__atomic_exchange_n(&gnt__g.lost, true, __ATOMIC_RELEASE))
		return;
	pthread_mutex_lock(&wlock);
	for (struct gnt__waker *k = wakers; k; k = k->next)
		gnt__bell_ring(k->bell);
	pthread_mutex_unlock(&wlock);
}

int gnt__conn_lost(int err)
{
	if (err != -ECONNRESET && err != -EPIPE)
		return err;
	gnt__set_lost();
	return -ESHUTDOWN;
}

static void *watch(void *arg)
{
	const struct watcher *me = arg;
	struct pollfd p[2] = {{.fd = me->pidfd, .events = POLLIN},
			      {.fd = me->stopfd, .events = POLLIN}};

	while (poll(p, 2, -1) < 0)
		;
	if (!p[0].revents)
		return NULL;
	/* gnt__g.lock: gnt_close moves the epoch under it */
	pthread_mutex_lock(&gnt__g.lock);
	if (gnt__epoch() == me->epoch)
		gnt__set_lost();
	pthread_mutex_unlock(&gnt__g.lock);
	return NULL;
}

/* A watcher of gntd_pid, or NULL (then a sleeper wakes on its peers' rings
 * only); a gntd that is gone already is lost now. */
static struct watcher *watcher_start(pid_t gntd_pid)
{
	struct watcher *me = calloc(1, sizeof(*me));

	if (!me)
		return NULL;
	me->pid = gntd_pid;
	me->epoch = gnt__epoch();
	me->pidfd = gntd_pid > 0 ? (int)syscall(SYS_pidfd_open, gntd_pid, 0) : -1;
	if (me->pidfd < 0 && errno == ESRCH)
		__atomic_store_n(&gnt__g.lost, true, __ATOMIC_RELEASE);
	me->stopfd = me->pidfd < 0 ? -1 : eventfd(0, EFD_CLOEXEC);
	if (me->stopfd >= 0 && pthread_create(&me->t, NULL, watch, me) == 0)
		return me;
	if (me->stopfd >= 0)
		close(me->stopfd);
	if (me->pidfd >= 0)
		close(me->pidfd);
	free(me);
	return NULL;
}

static void watcher_stop(struct watcher *me)
{
	uint64_t one = 1;

	if (!me)
		return;
	if (write(me->stopfd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd far from its limit cannot refuse */
	pthread_join(me->t, NULL);
	close(me->pidfd);
	close(me->stopfd);
	free(me);
}

void gnt__waker_add(struct gnt__waker *k, pid_t gntd_pid)
{
	struct watcher *old = NULL;

	pthread_mutex_lock(&wlock);
	k->next = wakers;
	wakers = k;
	if (!cur || cur->pid != gntd_pid || cur->epoch != gnt__epoch()) {
		old = cur;
		cur = watcher_start(gntd_pid);
	}
	pthread_mutex_unlock(&wlock);
	/* joined unlocked: a watcher that just saw gntd die takes wlock */
	watcher_stop(old);
}

void gnt__waker_del(struct gnt__waker *k)
{
	struct watcher *old = NULL;
	struct gnt__waker **pp;

	pthread_mutex_lock(&wlock);
	for (pp = &wakers; *pp && *pp != k; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = k->next;
	if (!wakers) {
		old = cur;
		cur = NULL;
	}
	pthread_mutex_unlock(&wlock);
	watcher_stop(old);
}

/* A child has no watcher and none of its parent's handles (they return
 * -EBADF there); its copies of the watcher's descriptors are closed. */
static void wfork_prepare(void)
{
	pthread_mutex_lock(&wlock);
}

static void wfork_parent(void)
{
	pthread_mutex_unlock(&wlock);
}

static void wfork_child(void)
{
	if (cur) {
		close(cur->pidfd);
		close(cur->stopfd);
		free(cur);
		cur = NULL;
	}
	wakers = NULL;
	pthread_mutex_unlock(&wlock);
}

__attribute__((constructor)) static void lost_init(void)
{
	pthread_atfork(wfork_prepare, wfork_parent, wfork_child);
}
