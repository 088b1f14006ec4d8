/* SPDX-License-Identifier: MIT */
/*
 * vchan: libxenvchan's wire format (shared page, ring placement, xenstore
 * keys, notify bits, unmap-notify offsets) on gnt's grants and event
 * channels.
 *
 * Trust: everything in the shared page may be written by the peer at any
 * time, including the index that we ourselves publish.  So:
 *  - the geometry (orders, sizes, buffer addresses, grant refs) is read
 *    once at init, validated, and kept in struct gnt_vchan; the shared
 *    order fields are never read again;
 *  - our own index (cons of the ring we read, prod of the ring we write) is
 *    kept privately and only ever stored to the page, never loaded back;
 *  - the peer's index is loaded once per operation and the distance to our
 *    private index is checked against the ring size; out of range marks the
 *    channel broken (EPROTO, is_open() == 0) for good;
 *  - every buffer offset is masked with size-1 of the private size.
 * A peer can still scribble over ring contents while we copy them; that only
 * gives it garbage data, never an access outside the ring.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib.h"
#include "gnt/evtchn.h"
#include "gnt/grant.h"
#include "gnt/vchan.h"
#include "gnt/xs.h"

/* ---- the shared page (io/libxenvchan.h layout) ------------------------- */

struct vchan_ring_shared {
	uint32_t cons; /* [READER of this ring] */
	uint32_t prod; /* [WRITER of this ring] */
};

struct vchan_interface {
	struct vchan_ring_shared left;  /* client -> server data */
	struct vchan_ring_shared right; /* server -> client data */
	uint16_t left_order;            /* [SERVER] at init */
	uint16_t right_order;           /* [SERVER] at init */
	uint8_t cli_live;   /* [CLIENT] 0 gone, 1 connected, 2 not yet; [GNTD] clears on death */
	uint8_t srv_live;   /* [SERVER] 0 gone, 1 up; [GNTD] clears on death */
	uint8_t cli_notify; /* [BOTH] VCHAN_NOTIFY_* bits the client must signal */
	uint8_t srv_notify; /* [BOTH] VCHAN_NOTIFY_* bits the server must signal */
	uint32_t grants[];  /* [SERVER] left's data pages, then right's */
};

_Static_assert(offsetof(struct vchan_interface, left.cons) == 0, "left.cons");
_Static_assert(offsetof(struct vchan_interface, left.prod) == 4, "left.prod");
_Static_assert(offsetof(struct vchan_interface, right.cons) == 8, "right.cons");
_Static_assert(offsetof(struct vchan_interface, right.prod) == 12, "right.prod");
_Static_assert(offsetof(struct vchan_interface, left_order) == 16, "left_order");
_Static_assert(offsetof(struct vchan_interface, right_order) == 18, "right_order");
_Static_assert(offsetof(struct vchan_interface, cli_live) == 20, "cli_live");
_Static_assert(offsetof(struct vchan_interface, srv_live) == 21, "srv_live");
_Static_assert(offsetof(struct vchan_interface, cli_notify) == 22, "cli_notify");
_Static_assert(offsetof(struct vchan_interface, srv_notify) == 23, "srv_notify");
_Static_assert(offsetof(struct vchan_interface, grants) == 24, "grants");
_Static_assert(sizeof(struct vchan_interface) == 24, "header size");

#define VCHAN_NOTIFY_WRITE 0x1
#define VCHAN_NOTIFY_READ  0x2

#define OFF_CLI_LIVE 20u /* unmap-notify offsets (libxenvchan's) */
#define OFF_SRV_LIVE 21u

#define MIN_ORDER   10
#define SMALL_ORDER 11 /* largest in-page ring */
#define PAGE_ORDER  12
#define MAX_ORDER   20
#define MAX_GRANTS  ((GNT_PAGE_SIZE - sizeof(struct vchan_interface)) / sizeof(uint32_t))

#define SPIN_NS     30000 /* busy-wait before sleeping on the event channel */
#define GAP_MIN     4   /* pauses between two loads of the peer's index while spinning */
#define GAP_MAX     256 /* (a pause is ~20 ns: 80 ns .. 5 us) */
#define SLEEP_MS    100   /* re-check liveness at least this often when asleep */
#define CLOSED      (-2)

struct side {
	struct vchan_ring_shared *idx; /* in the shared page */
	uint8_t *buf;                  /* private copy of the placement */
	uint32_t size;                 /* private: 1 << order */
	uint32_t mine;                 /* private: our cons (read side) or prod (write side) */
	uint32_t seen;                 /* private: the peer's index as last loaded and checked */
	uint32_t gap;                  /* private: pauses between loads when waiting on it */
	uint32_t last_gap, last_level; /* private: the previous wait's gap and what it found */
	unsigned int order, npages;
	void *pages;             /* order >= 12: server's unit / client's ballooned range */
	grant_ref_t *refs;       /* server */
	grant_handle_t *handles; /* client */
};

struct gnt_vchan {
	struct vchan_interface *shr;
	gnt_evtchn_handle *evh;
	evtchn_port_t port;
	domid_t peer;
	bool server, blocking, broken;
	uint8_t *my_notify, *peer_notify, *my_live, *peer_live;
	struct side rd, wr;
	grant_ref_t ring_ref;       /* server */
	grant_handle_t ring_handle; /* client */
	char *xs_path;              /* server */
};

/* ---- notify and liveness ------------------------------------------------- */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Signal the peer if it asked for `bit` (in the byte we must honour). */
static void send_notify(struct gnt_vchan *c, uint8_t bit)
{
	/* Full fence: our index store (just done) is ordered before the load of
	 * the peer's request bit; the peer sets the bit and then fences before
	 * re-loading our index (request_notify), so one of us sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(c->my_notify, __ATOMIC_RELAXED) & bit))
		return;
	if (__atomic_fetch_and(c->my_notify, (uint8_t)~bit, __ATOMIC_RELAXED) & bit)
		gnt_evtchn_notify(c->evh, c->port);
}

/* Ask the peer to signal `bit`; the caller re-checks the index afterwards. */
static void request_notify(struct gnt_vchan *c, uint8_t bit)
{
	__atomic_fetch_or(c->peer_notify, bit, __ATOMIC_RELAXED);
	/* Full fence: the bit is visible before we re-load the peer's index
	 * (pairs with the fence in send_notify). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void mark_broken(struct gnt_vchan *c)
{
	if (!c->broken) {
		c->broken = true;
		/* release: tell the peer we are gone after our last ring access */
		__atomic_store_n(c->my_live, 0, __ATOMIC_RELEASE);
		gnt_evtchn_notify(c->evh, c->port);
	}
	errno = EPROTO;
}

int gnt_vchan_is_open(struct gnt_vchan *c)
{
	uint8_t v;

	if (!c || c->broken)
		return 0;
	/* acquire: a caller that sees the peer gone and then loads its index
	 * sees everything the peer published before it went */
	v = __atomic_load_n(c->peer_live, __ATOMIC_ACQUIRE);
	if (c->server)
		return v == 1 ? 1 : v == 2 ? 2 : 0;
	return v == 1;
}

/* ---- indexes --------------------------------------------------------------- */

/* Load the peer's index of side s (acquire: our data accesses come after
 * the peer's that preceded its store) and check its distance to ours:
 * readable bytes (reading) or used bytes (writing) never exceed the size.
 * Out of range marks the channel broken: -1. */
static int reload(struct gnt_vchan *c, struct side *s, bool reading)
{
	uint32_t v;

	if (c->broken) {
		errno = EPROTO;
		return -1;
	}
	v = __atomic_load_n(reading ? &s->idx->prod : &s->idx->cons, __ATOMIC_ACQUIRE);
	if ((reading ? v - s->mine : s->mine - v) > s->size) {
		mark_broken(c);
		return -1;
	}
	s->seen = v;
	return 0;
}

/* Readable bytes, at least `need` if that many were published, or -1
 * (broken).  The peer's prod is loaded only when what we saw last time
 * falls short: every load of the index line takes it away from a writer
 * that is storing to it. */
static int64_t rd_avail(struct gnt_vchan *c, uint32_t need)
{
	if (c->broken) {
		errno = EPROTO;
		return -1;
	}
	if (c->rd.seen - c->rd.mine < need && reload(c, &c->rd, true) < 0)
		return -1;
	return c->rd.seen - c->rd.mine;
}

/* Writable bytes, at least `need` if that much is free, or -1 (broken). */
static int64_t wr_space(struct gnt_vchan *c, uint32_t need)
{
	if (c->broken) {
		errno = EPROTO;
		return -1;
	}
	if (c->wr.size - (c->wr.mine - c->wr.seen) < need && reload(c, &c->wr, false) < 0)
		return -1;
	return c->wr.size - (c->wr.mine - c->wr.seen);
}

/* Pieces of a large copy: the index is published after each, so that the
 * peer starts on the first quarter of the ring while we copy the next. */
static uint32_t piece(const struct side *s, uint32_t n)
{
	uint32_t max = s->size / 4 < 4096 ? 4096 : s->size / 4;
	return n < max ? n : max;
}

/* Copy n bytes out of the ring we read (reading) into mem, or from mem into
 * the ring we write, publishing our index after each piece (release: our
 * accesses to the data come before the peer sees the index move) and
 * signalling the peer if it asked. */
static void copy_ring(struct gnt_vchan *c, bool reading, uint8_t *mem, uint32_t n)
{
	struct side *s = reading ? &c->rd : &c->wr;

	for (uint32_t done = 0, k; done < n; done += k) {
		uint32_t off = s->mine & (s->size - 1);

		k = piece(s, n - done);
		if (k > s->size - off)
			k = s->size - off; /* to the end of the ring; the rest next */
		if (reading)
			memcpy(mem + done, s->buf + off, k);
		else
			memcpy(s->buf + off, mem + done, k);
		s->mine += k;
		__atomic_store_n(reading ? &s->idx->cons : &s->idx->prod, s->mine,
				 __ATOMIC_RELEASE);
		send_notify(c, reading ? VCHAN_NOTIFY_READ : VCHAN_NOTIFY_WRITE);
	}
}

static void copy_out(struct gnt_vchan *c, void *dst, uint32_t n)
{
	copy_ring(c, true, dst, n);
}

static void copy_in(struct gnt_vchan *c, const void *src, uint32_t n)
{
	copy_ring(c, false, (uint8_t *)(uintptr_t)src, n); /* only read from */
}

/* The current level, freshly loaded. */
static int64_t level(struct gnt_vchan *c, bool reading)
{
	return reading ? rd_avail(c, UINT32_MAX) : wr_space(c, UINT32_MAX);
}

static void drain_events(struct gnt_vchan *c)
{
	int p;

	while ((p = gnt_evtchn_pending(c->evh)) >= 0)
		gnt_evtchn_unmask(c->evh, (evtchn_port_t)p);
}

/* The next wait's gap, from what this one found: a stream answers a longer
 * gap with proportionally more data (then let it batch up: double), a
 * request/reply protocol with the same one reply (then answer fast: halve).
 * So each wait moves the gap and the next checks whether the level moved
 * with it.  Half the ring filled (or freed) meanwhile: halve, the peer may
 * soon stall on us. */
static void adapt_gap(struct side *s, uint32_t level)
{
	bool grew = s->gap > s->last_gap, shrank = s->gap < s->last_gap;
	bool stream = (grew && level >= s->last_level + s->last_level / 2) ||
		      (shrank && level <= s->last_level - s->last_level / 4) ||
		      (!grew && !shrank && s->gap == GAP_MIN);
	uint32_t next = stream && level < s->size / 2 ? s->gap * 2 : s->gap / 2;

	s->last_gap = s->gap;
	s->last_level = level;
	s->gap = next < GAP_MIN ? GAP_MIN : next > GAP_MAX ? GAP_MAX : next;
}

/* Wait until level >= need.  Returns the level, -1 (broken, errno set) or
 * CLOSED (the peer is gone and level < need).
 *
 * Spinning loads the peer's index every `gap` pauses, not continuously:
 * each load takes the index line from a peer that is storing to it (and
 * stalls its fence), so a reader polling flat out would cut a stream into
 * one-message batches.  adapt_gap() sets the gap. */
static int64_t wait_level(struct gnt_vchan *c, bool reading, uint32_t need)
{
	struct side *s = reading ? &c->rd : &c->wr;
	uint64_t t0 = now_ns();
	int64_t v;

	if (s->gap < GAP_MIN)
		s->gap = s->last_gap = GAP_MIN;
	for (;;) { /* spin: the peer is usually running right now */
		for (unsigned int k = 0; k < s->gap; k++)
			cpu_relax();
		v = level(c, reading);
		if (v < 0 || v >= need) {
			if (v >= 0)
				adapt_gap(s, (uint32_t)v);
			return v;
		}
		if (!gnt_vchan_is_open(c) || now_ns() - t0 > SPIN_NS)
			break;
	}
	s->gap = s->last_gap = GAP_MIN; /* asleep: the peer is not streaming */
	for (;;) {
		struct pollfd pfd = {.fd = gnt_evtchn_fd(c->evh), .events = POLLIN};

		request_notify(c, reading ? VCHAN_NOTIFY_WRITE : VCHAN_NOTIFY_READ);
		v = level(c, reading);
		if (v < 0 || v >= need)
			return v;
		if (!gnt_vchan_is_open(c)) {
			v = level(c, reading); /* what it published before going */
			return v < 0 || v >= need ? v : CLOSED;
		}
		/* gntd gone: fail-stop, though the peer may still be there (its
		 * events would keep coming; gnt__set_lost rings our bell) */
		if ((v = gnt__evtchn_usable(c->evh)) < 0) {
			errno = (int)-v;
			return -1;
		}
		/* the timeout covers an event lost to the peer's death (its port
		 * closing before gntd's unmap notify could use it) */
		poll(&pfd, 1, SLEEP_MS);
		drain_events(c);
	}
}

static uint32_t clamp(size_t size)
{
	return size > INT_MAX ? INT_MAX : (uint32_t)size;
}

/* ---- I/O ---------------------------------------------------------------------- */

int gnt_vchan_read(struct gnt_vchan *c, void *data, size_t size)
{
	uint32_t want = clamp(size);
	int64_t v = rd_avail(c, want);

	if (v < 0)
		return -1;
	if (want == 0)
		return 0;
	if (v == 0) {
		if (!gnt_vchan_is_open(c)) {
			v = rd_avail(c, UINT32_MAX);
			if (v <= 0) {
				if (v == 0)
					errno = EPIPE;
				return -1;
			}
		} else if (!c->blocking) {
			return 0;
		} else {
			v = wait_level(c, true, 1);
			if (v == CLOSED)
				errno = EPIPE;
			if (v < 0)
				return -1;
		}
	}
	if (v > want)
		v = want;
	copy_out(c, data, (uint32_t)v);
	return (int)v;
}

int gnt_vchan_recv(struct gnt_vchan *c, void *data, size_t size)
{
	int64_t v = rd_avail(c, clamp(size));

	if (v < 0)
		return -1;
	if (size > c->rd.size) {
		errno = EINVAL;
		return -1;
	}
	if (size == 0)
		return 0;
	if (v < (int64_t)size) {
		if (!gnt_vchan_is_open(c)) {
			v = rd_avail(c, UINT32_MAX);
			if (v < 0)
				return -1;
			if (v < (int64_t)size) {
				errno = EPIPE;
				return -1;
			}
		} else if (!c->blocking) {
			return 0;
		} else {
			v = wait_level(c, true, (uint32_t)size);
			if (v == CLOSED)
				errno = EPIPE;
			if (v < 0)
				return -1;
		}
	}
	copy_out(c, data, (uint32_t)size);
	return (int)size;
}

int gnt_vchan_write(struct gnt_vchan *c, const void *data, size_t size)
{
	uint32_t want = clamp(size), pos = 0;

	if (wr_space(c, 0) < 0)
		return -1;
	if (!gnt_vchan_is_open(c)) {
		errno = EPIPE;
		return -1;
	}
	while (pos < want) {
		int64_t v = wr_space(c, want - pos);

		if (v < 0)
			return -1;
		if (v == 0) {
			if (!c->blocking)
				break;
			/* blocking until all is written anyway: wait for room
			 * for a good part of it, not for the first byte freed */
			v = wait_level(c, false, want - pos < c->wr.size / 2 ? want - pos : c->wr.size / 2);
			if (v == CLOSED)
				errno = EPIPE;
			if (v < 0)
				return -1;
		}
		if (v > want - pos)
			v = want - pos;
		copy_in(c, (const uint8_t *)data + pos, (uint32_t)v);
		pos += (uint32_t)v;
		if (!c->blocking)
			break;
	}
	return (int)pos;
}

int gnt_vchan_send(struct gnt_vchan *c, const void *data, size_t size)
{
	int64_t v = wr_space(c, clamp(size));

	if (v < 0)
		return -1;
	if (size > c->wr.size) {
		errno = EINVAL;
		return -1;
	}
	if (!gnt_vchan_is_open(c)) {
		errno = EPIPE;
		return -1;
	}
	if (size == 0)
		return 0;
	if (v < (int64_t)size) {
		if (!c->blocking)
			return 0;
		v = wait_level(c, false, (uint32_t)size);
		if (v == CLOSED)
			errno = EPIPE;
		if (v < 0)
			return -1;
	}
	copy_in(c, data, (uint32_t)size);
	return (int)size;
}

int gnt_vchan_data_ready(struct gnt_vchan *c)
{
	int64_t v = rd_avail(c, UINT32_MAX);
	return v < 0 ? 0 : (int)v;
}

int gnt_vchan_buffer_space(struct gnt_vchan *c)
{
	int64_t v = wr_space(c, UINT32_MAX);
	return v < 0 ? 0 : (int)v;
}

int gnt_vchan_wait(struct gnt_vchan *c)
{
	struct pollfd pfd = {.fd = gnt_evtchn_fd(c->evh), .events = POLLIN};
	int p;

	for (;;) {
		p = gnt_evtchn_pending(c->evh);
		if (p >= 0) {
			gnt_evtchn_unmask(c->evh, (evtchn_port_t)p);
			return 0;
		}
		if (p != -EAGAIN) {
			errno = -p;
			return -1;
		}
		/* a dead peer whose last event was lost must not hang us: after a
		 * second, return as a (permitted) spurious wake-up */
		if (poll(&pfd, 1, 1000) == 0)
			return 0;
	}
}

int gnt_vchan_fd_for_select(struct gnt_vchan *c)
{
	return gnt_evtchn_fd(c->evh);
}

void gnt_vchan_set_blocking(struct gnt_vchan *c, int blocking)
{
	c->blocking = blocking != 0;
}

int gnt_vchan_get_blocking(const struct gnt_vchan *c)
{
	return c->blocking;
}

/* ---- geometry ---------------------------------------------------------------- */

static int order_for(size_t min)
{
	int o = PAGE_ORDER;

	while (o <= MAX_ORDER && ((size_t)1 << o) < min)
		o++;
	return o > MAX_ORDER ? -1 : o;
}

static unsigned int pages_of(unsigned int order)
{
	return order >= PAGE_ORDER ? 1u << (order - PAGE_ORDER) : 0;
}

/* In-page ring offset for orders 10 and 11. */
static unsigned int inpage_off(unsigned int order)
{
	return order == MIN_ORDER ? 1024u : 2048u;
}

/* ---- server ------------------------------------------------------------------ */

static void server_unshare_side(struct side *s)
{
	bool all = true;

	if (!s->refs)
		return;
	for (unsigned int i = 0; i < s->npages; i++) {
		if (s->refs[i] == INVALID_GRANT_REF)
			continue;
		if (gnt_try_end_foreign_access(s->refs[i]) != 1) {
			/* still mapped (a client that has not closed, or a dead
			 * one whose domain lives): libgnt ends it later */
			gnt_end_foreign_access(s->refs[i], NULL);
			all = false;
		}
	}
	/* pages a grantee may still reach are not given back (they could be
	 * reused for other data); they stay until this process exits */
	if (all && s->pages)
		gnt_free_pages(s->pages, s->npages);
	free(s->refs);
	s->refs = NULL;
	s->pages = NULL;
}

static int server_share_side(struct gnt_vchan *c, struct side *s, unsigned int *k)
{
	s->npages = pages_of(s->order);
	if (!s->npages) {
		s->buf = (uint8_t *)c->shr + inpage_off(s->order);
		return 0;
	}
	s->refs = malloc(s->npages * sizeof(*s->refs));
	if (!s->refs)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->npages; i++)
		s->refs[i] = INVALID_GRANT_REF;
	s->pages = gnt_alloc_pages(s->npages);
	if (!s->pages)
		return -errno;
	s->buf = s->pages;
	for (unsigned int i = 0; i < s->npages; i++) {
		int r = gnt_grant_foreign_access(
		    c->peer, gnt_virt_to_gfn((uint8_t *)s->pages + (size_t)i * GNT_PAGE_SIZE), 0);
		if (r < 0)
			return r;
		s->refs[i] = (grant_ref_t)r;
		c->shr->grants[(*k)++] = (uint32_t)r;
	}
	return 0;
}

static int publish(struct gnt_vchan *c, gnt_xs *xs)
{
	char path[512], val[16], self[16], peer[16];
	const char *perms[2] = {self, peer};
	int dom = gnt_domid(), r = -EAGAIN;

	if (dom < 0)
		return dom;
	snprintf(self, sizeof(self), "n%d", dom);
	snprintf(peer, sizeof(peer), "r%u", c->peer);
	for (int tries = 0; tries < 100 && r == -EAGAIN; tries++) {
		uint32_t tx = gnt_xs_transaction_start(xs);

		if (!tx)
			return -errno;
		snprintf(path, sizeof(path), "%s/ring-ref", c->xs_path);
		snprintf(val, sizeof(val), "%u", c->ring_ref);
		r = gnt_xs_write(xs, tx, path, val, (unsigned int)strlen(val));
		if (!r)
			r = gnt_xs_set_perms(xs, tx, path, perms, 2);
		if (!r) {
			snprintf(path, sizeof(path), "%s/event-channel", c->xs_path);
			snprintf(val, sizeof(val), "%u", c->port);
			r = gnt_xs_write(xs, tx, path, val, (unsigned int)strlen(val));
		}
		if (!r)
			r = gnt_xs_set_perms(xs, tx, path, perms, 2);
		if (r) {
			gnt_xs_transaction_end(xs, tx, true);
			return r;
		}
		r = gnt_xs_transaction_end(xs, tx, false);
	}
	return r;
}

struct gnt_vchan *gnt_vchan_server_init(domid_t peer, const char *xs_path, size_t read_min,
					size_t write_min)
{
	struct gnt_vchan *c;
	int lo, ro, r;
	unsigned int k = 0;
	gnt_xs *xs;

	/* left is the client's write ring: the server reads it */
	if (read_min <= 1024 && write_min <= 2048) {
		lo = MIN_ORDER;
		ro = SMALL_ORDER;
	} else if (read_min <= 2048 && write_min <= 1024) {
		lo = SMALL_ORDER;
		ro = MIN_ORDER;
	} else if (read_min <= 2048) {
		lo = SMALL_ORDER;
		ro = order_for(write_min);
	} else if (write_min <= 2048) {
		lo = order_for(read_min);
		ro = SMALL_ORDER;
	} else {
		lo = order_for(read_min);
		ro = order_for(write_min);
	}
	if (lo < 0 || ro < 0 || !xs_path || strlen(xs_path) > 400) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->server = true;
	c->peer = peer;
	c->ring_ref = INVALID_GRANT_REF;
	c->rd.order = (unsigned int)lo;
	c->wr.order = (unsigned int)ro;
	c->rd.size = 1u << lo;
	c->wr.size = 1u << ro;
	c->xs_path = strdup(xs_path);
	if (!c->xs_path)
		goto err_free;
	c->evh = gnt_evtchn_open();
	if (!c->evh)
		goto err_free;
	r = gnt_evtchn_bind_unbound_port(c->evh, peer);
	if (r < 0)
		goto err_errno;
	c->port = (evtchn_port_t)r;
	gnt_evtchn_unmask(c->evh, c->port);
	c->shr = gnt_alloc_page(); /* zeroed */
	if (!c->shr)
		goto err_evtchn;
	r = gnt_grant_foreign_access(peer, gnt_virt_to_gfn(c->shr), 0);
	if (r < 0)
		goto err_page_r;
	c->ring_ref = (grant_ref_t)r;
	r = gnt_grant_set_unmap_notify(c->ring_ref, OFF_SRV_LIVE,
				       GNT_UNMAP_NOTIFY_CLEAR_BYTE | GNT_UNMAP_NOTIFY_SEND_EVENT,
				       c->port);
	if (r < 0)
		goto err_page_r;
	c->shr->left_order = (uint16_t)lo;
	c->shr->right_order = (uint16_t)ro;
	c->shr->cli_live = 2;
	c->shr->srv_live = 1;
	c->shr->cli_notify = VCHAN_NOTIFY_WRITE;
	c->rd.idx = &c->shr->left;
	c->wr.idx = &c->shr->right;
	c->my_notify = &c->shr->srv_notify;
	c->peer_notify = &c->shr->cli_notify;
	c->my_live = &c->shr->srv_live;
	c->peer_live = &c->shr->cli_live;
	r = server_share_side(c, &c->rd, &k);
	if (!r)
		r = server_share_side(c, &c->wr, &k);
	if (r < 0)
		goto err_sides;
	/* release: the page's contents are complete before the keys that let
	 * the client find it are published (the store round trip orders it
	 * too) */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	xs = gnt_xs_open();
	if (!xs) {
		r = -errno;
		goto err_sides;
	}
	r = publish(c, xs);
	gnt_xs_close(xs);
	if (r < 0)
		goto err_sides;
	return c;

err_sides:
	server_unshare_side(&c->wr);
	server_unshare_side(&c->rd);
err_page_r:
	errno = -r;
	if (c->ring_ref == INVALID_GRANT_REF) {
		r = errno;
		gnt_free_page(c->shr);
		errno = r;
	} else {
		r = errno;
		gnt_grant_set_unmap_notify(c->ring_ref, OFF_SRV_LIVE, 0, 0);
		gnt_end_foreign_access(c->ring_ref, c->shr);
		errno = r;
	}
	goto err_evtchn;
err_errno:
	errno = -r;
err_evtchn:
	r = errno;
	gnt_evtchn_close(c->evh);
	errno = r;
err_free:
	r = errno;
	free(c->xs_path);
	free(c);
	errno = r;
	return NULL;
}

/* ---- client ------------------------------------------------------------------ */

static int map_status_errno(int16_t st)
{
	switch (st) {
	case GNTST_permission_denied:
		return -EACCES;
	case GNTST_bad_domain:
		return -ESRCH;
	case GNTST_no_device_space:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}

static void client_unmap_side(struct side *s)
{
	struct gnttab_unmap_grant_ref *ops;
	unsigned int n = 0;

	if (!s->handles)
		return;
	ops = calloc(s->npages, sizeof(*ops));
	for (unsigned int i = 0; ops && i < s->npages; i++)
		if (s->handles[i] != INVALID_GRANT_HANDLE)
			gnt_set_unmap_op(&ops[n++], (uint8_t *)s->pages + (size_t)i * GNT_PAGE_SIZE,
					 GNTMAP_host_map, s->handles[i]);
	if (n)
		gnt_unmap_refs(ops, n);
	free(ops);
	gnt_free_ballooned_pages(s->pages, s->npages);
	free(s->handles);
	s->handles = NULL;
	s->pages = NULL;
}

static int client_map_side(struct gnt_vchan *c, struct side *s, const uint32_t *refs,
			   bool readonly)
{
	struct gnttab_map_grant_ref *ops;
	int r = 0;

	if (!s->npages) {
		s->buf = (uint8_t *)c->shr + inpage_off(s->order);
		return 0;
	}
	s->handles = malloc(s->npages * sizeof(*s->handles));
	ops = calloc(s->npages, sizeof(*ops));
	s->pages = gnt_alloc_ballooned_pages(s->npages);
	if (!s->handles || !ops || !s->pages) {
		if (s->pages)
			gnt_free_ballooned_pages(s->pages, s->npages);
		s->pages = NULL;
		free(s->handles);
		s->handles = NULL;
		free(ops);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < s->npages; i++) {
		s->handles[i] = INVALID_GRANT_HANDLE;
		gnt_set_map_op(&ops[i], (uint8_t *)s->pages + (size_t)i * GNT_PAGE_SIZE,
			       GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0), refs[i], c->peer);
	}
	r = gnt_map_refs(ops, s->npages);
	for (unsigned int i = 0; i < s->npages; i++) {
		if (!r && ops[i].status == GNTST_okay)
			s->handles[i] = ops[i].handle;
		else if (!r)
			r = map_status_errno(ops[i].status);
	}
	free(ops);
	s->buf = s->pages;
	if (r)
		client_unmap_side(s);
	return r;
}

static int read_key(gnt_xs *xs, const char *dir, const char *key, uint32_t *out)
{
	char path[512], *v, *end;
	unsigned long n;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	v = gnt_xs_read(xs, GNT_XBT_NULL, path, NULL);
	if (!v)
		return -errno;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n == 0 || n > UINT32_MAX) {
		free(v);
		return -EPROTO; /* libxenvchan: 0 is a failure too */
	}
	free(v);
	*out = (uint32_t)n;
	return 0;
}

struct gnt_vchan *gnt_vchan_client_init(domid_t peer, const char *xs_path)
{
	struct gnt_vchan *c;
	struct gnttab_map_grant_ref op;
	uint32_t ring_ref, rport, refs[MAX_GRANTS];
	unsigned int lo, ro, n, limit = GNT_PAGE_SIZE;
	gnt_xs *xs;
	int r;

	if (!xs_path || strlen(xs_path) > 400) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->peer = peer;
	c->ring_handle = INVALID_GRANT_HANDLE;
	xs = gnt_xs_open();
	if (!xs)
		goto err_free;
	r = read_key(xs, xs_path, "ring-ref", &ring_ref);
	if (!r)
		r = read_key(xs, xs_path, "event-channel", &rport);
	gnt_xs_close(xs);
	if (r)
		goto err_free_r;
	c->evh = gnt_evtchn_open();
	if (!c->evh)
		goto err_free;
	r = gnt_evtchn_bind_interdomain(c->evh, peer, rport);
	if (r < 0)
		goto err_evtchn_r;
	c->port = (evtchn_port_t)r;
	drain_events(c); /* the bind's own pending event */
	c->shr = gnt_alloc_ballooned_pages(1);
	if (!c->shr) {
		r = -errno;
		goto err_evtchn_r;
	}
	gnt_set_map_op(&op, c->shr, GNTMAP_host_map, ring_ref, peer);
	r = gnt_map_refs(&op, 1);
	if (!r && op.status != GNTST_okay)
		r = map_status_errno(op.status);
	if (r)
		goto err_ring_r;
	c->ring_handle = op.handle;
	r = gnt_map_set_unmap_notify(c->ring_handle, OFF_CLI_LIVE,
				     GNT_UNMAP_NOTIFY_CLEAR_BYTE | GNT_UNMAP_NOTIFY_SEND_EVENT,
				     c->port);
	if (r)
		goto err_unmap_r;

	/* the geometry: read once, checked, kept privately */
	lo = __atomic_load_n(&c->shr->left_order, __ATOMIC_RELAXED);
	ro = __atomic_load_n(&c->shr->right_order, __ATOMIC_RELAXED);
	r = -EPROTO;
	if (lo < MIN_ORDER || lo > MAX_ORDER || ro < MIN_ORDER || ro > MAX_ORDER)
		goto err_unmap_r;
	if (lo < PAGE_ORDER && ro < PAGE_ORDER && lo == ro)
		goto err_unmap_r; /* both in-page at the same offset */
	if (lo < PAGE_ORDER)
		limit = inpage_off(lo);
	if (ro < PAGE_ORDER && inpage_off(ro) < limit)
		limit = inpage_off(ro);
	n = pages_of(lo) + pages_of(ro);
	if (sizeof(struct vchan_interface) + n * sizeof(uint32_t) > limit)
		goto err_unmap_r; /* the grant list would run into a ring */
	for (unsigned int i = 0; i < n; i++)
		refs[i] = __atomic_load_n(&c->shr->grants[i], __ATOMIC_RELAXED);
	c->wr.order = lo; /* the client writes left */
	c->rd.order = ro;
	c->wr.size = 1u << lo;
	c->rd.size = 1u << ro;
	c->wr.npages = pages_of(lo);
	c->rd.npages = pages_of(ro);
	c->wr.idx = &c->shr->left;
	c->rd.idx = &c->shr->right;
	r = client_map_side(c, &c->wr, refs, false);
	if (r)
		goto err_unmap_r;
	r = client_map_side(c, &c->rd, refs + c->wr.npages, true);
	if (r)
		goto err_unmap_wr;
	c->my_notify = &c->shr->cli_notify;
	c->peer_notify = &c->shr->srv_notify;
	c->my_live = &c->shr->cli_live;
	c->peer_live = &c->shr->srv_live;
	/* our starting indexes: whatever the page says now (the server may
	 * already have written); read once, then private */
	c->wr.mine = __atomic_load_n(&c->wr.idx->prod, __ATOMIC_RELAXED);
	c->rd.mine = __atomic_load_n(&c->rd.idx->cons, __ATOMIC_RELAXED);
	c->rd.seen = c->rd.mine;               /* nothing seen to read yet */
	c->wr.seen = c->wr.mine - c->wr.size; /* nor any space: load it first */
	__atomic_store_n(&c->shr->srv_notify, VCHAN_NOTIFY_WRITE, __ATOMIC_RELAXED);
	/* release: the notify request and our initial reads come before the
	 * server can see us connected */
	__atomic_store_n(&c->shr->cli_live, 1, __ATOMIC_RELEASE);
	gnt_evtchn_notify(c->evh, c->port);
	return c;

err_unmap_wr:
	client_unmap_side(&c->wr);
err_unmap_r: {
	struct gnttab_unmap_grant_ref un;
	gnt_set_unmap_op(&un, c->shr, GNTMAP_host_map, c->ring_handle);
	gnt_unmap_refs(&un, 1);
}
err_ring_r:
	gnt_free_ballooned_pages(c->shr, 1);
err_evtchn_r:
	gnt_evtchn_close(c->evh);
err_free_r:
	errno = -r;
err_free:
	r = errno;
	free(c);
	errno = r;
	return NULL;
}

/* ---- close ----------------------------------------------------------------- */

void gnt_vchan_close(struct gnt_vchan *c)
{
	int e = errno;

	if (!c)
		return;
	/* release: every ring access of ours is done before the peer sees us
	 * gone */
	__atomic_store_n(c->my_live, 0, __ATOMIC_RELEASE);
	gnt_evtchn_notify(c->evh, c->port);
	if (c->server) {
		gnt_xs *xs;

		server_unshare_side(&c->rd);
		server_unshare_side(&c->wr);
		gnt_grant_set_unmap_notify(c->ring_ref, OFF_SRV_LIVE, 0, 0);
		gnt_end_foreign_access(c->ring_ref, c->shr); /* frees the page once ended */
		xs = gnt_xs_open();
		if (xs) {
			gnt_xs_rm(xs, GNT_XBT_NULL, c->xs_path);
			gnt_xs_close(xs);
		}
		free(c->xs_path);
	} else {
		struct gnttab_unmap_grant_ref un;

		client_unmap_side(&c->wr);
		client_unmap_side(&c->rd);
		gnt_set_unmap_op(&un, c->shr, GNTMAP_host_map, c->ring_handle);
		gnt_unmap_refs(&un, 1); /* fires our notify: the server wakes */
		gnt_free_ballooned_pages(c->shr, 1);
	}
	gnt_evtchn_close(c->evh);
	free(c);
	errno = e;
}
