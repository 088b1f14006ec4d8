/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_ring.c - gnt/ring.h: layout against Xen's (numbers from
 * the inventory and from Xen's own headers, test_ring_xen.c and
 * test_ring_xennames.c), u32 wrap-around, notification hold-off, a hostile
 * peer's indexes, copy-before-validate, a Xen front end against a gnt back
 * end, and a two-thread stress test with checksums.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "gnt/ring.h"
#include "../runner.h"

/* blkif's request and response, as the inventory gives them (E.2). */
struct blk_seg {
	uint32_t gref;
	uint8_t first_sect, last_sect;
};
struct blk_req {
	uint8_t operation;
	uint8_t nr_segments;
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	struct blk_seg seg[11];
};
struct blk_rsp {
	uint64_t id;
	uint8_t operation;
	int16_t status;
};
GNT_DEFINE_RING_TYPES(blk, struct blk_req, struct blk_rsp);

/* netif tx/rx (E.4), for their ring sizes. */
struct ntx_req {
	uint32_t gref;
	uint16_t offset, flags, id, size;
};
struct ntx_rsp {
	uint16_t id;
	int16_t status;
};
struct nrx_req {
	uint16_t id;
	uint32_t gref;
};
struct nrx_rsp {
	uint16_t id, offset, flags;
	int16_t status;
};
GNT_DEFINE_RING_TYPES(ntx, struct ntx_req, struct ntx_rsp);
GNT_DEFINE_RING_TYPES(nrx, struct nrx_req, struct nrx_rsp);

/* Compile-time: the numbers Xen's layout gives. */
_Static_assert(sizeof(struct blk_req) == 112, "blkif_request is 112 bytes");
_Static_assert(sizeof(struct blk_rsp) == 16, "blkif_response is 16 bytes");
_Static_assert(offsetof(struct blk_sring, ring) == 64, "ring[] at 64");
_Static_assert(GNT_CONST_RING_SIZE(blk, 4096) == 32, "blkif: 32 slots per page");
_Static_assert(GNT_CONST_RING_SIZE(ntx, 4096) == 256, "netif tx: 256 slots");
_Static_assert(GNT_CONST_RING_SIZE(nrx, 4096) == 256, "netif rx: 256 slots");

#define PAGE 4096

static unsigned char page[4 * PAGE] __attribute__((aligned(PAGE)));

struct ring_fact {
	const char *name;
	long value;
};
int ring_xen_facts(struct ring_fact *f, int max);
int ring_xennames_facts(struct ring_fact *f, int max);
int ring_xen_front_init(void *pg, size_t bytes, uint32_t start);
int ring_xen_front_push(uint64_t id, uint64_t sector, int *notify);
int ring_xen_front_poll(uint64_t *id, int16_t *status);
int ring_xen_front_final_check(void);

/* The shared page with every index at `start` (as after 2^32 - ... uses). */
static blk_sring_t *ring_at(uint32_t start, blk_front_ring_t *fr, blk_back_ring_t *br)
{
	blk_sring_t *s = (blk_sring_t *)page;

	memset(page, 0xa5, sizeof(page));
	GNT_SHARED_RING_INIT(s);
	s->req_prod = s->rsp_prod = start;
	s->req_event = s->rsp_event = start + 1;
	if (fr)
		GNT_FRONT_RING_ATTACH(fr, s, start, PAGE);
	if (br)
		GNT_BACK_RING_ATTACH(br, s, start, PAGE);
	return s;
}

TEST(ring_layout)
{
	blk_front_ring_t fr;
	blk_back_ring_t br;
	blk_sring_t *s = ring_at(0, &fr, &br);

	CHECK_EQ(sizeof(union blk_sring_entry), 112);
	CHECK_EQ(offsetof(struct blk_sring, req_prod), 0);
	CHECK_EQ(offsetof(struct blk_sring, req_event), 4);
	CHECK_EQ(offsetof(struct blk_sring, rsp_prod), 8);
	CHECK_EQ(offsetof(struct blk_sring, rsp_event), 12);
	CHECK_EQ(offsetof(struct blk_sring, pvt), 16);
	CHECK_EQ(sizeof(s->pvt), 4);
	CHECK_EQ(offsetof(struct blk_sring, ring), 64);
	CHECK_EQ(sizeof(struct blk_sring), 64);
	CHECK_EQ(GNT_RING_SIZE(&fr), 32);
	CHECK_EQ(GNT_RING_SIZE(&br), 32);
	CHECK_EQ(GNT_CONST_RING_SIZE(blk, 2 * PAGE), 64); /* 72 rounded down */
	CHECK_EQ((char *)GNT_RING_GET_REQUEST(&fr, 37) - (char *)s, 64 + 5 * 112);
	CHECK_EQ((char *)GNT_RING_GET_RESPONSE(&br, 37) - (char *)s, 64 + 5 * 112);
	/* the size rule at its edges */
	CHECK_EQ(gnt_ring_entries(63, 16), 0);
	CHECK_EQ(gnt_ring_entries(64 + 15, 16), 0);
	CHECK_EQ(gnt_ring_entries(64 + 16, 16), 1);
	CHECK_EQ(gnt_ring_entries(64 + 3 * 16, 16), 2);
	CHECK_EQ(gnt_ring_entries(64 + 4 * 16, 16), 4);
	CHECK_EQ(gnt_ring_entries(PAGE, 0), 0);
	CHECK_EQ(gnt_ring_entries((size_t)1 << 40, 1), 0x80000000u);
	CHECK_EQ(GNT_CONST_RING_SIZE(blk, 100), 0);
	CHECK_EQ(GNT_FLEX_RING_SIZE(1), 4096);
	CHECK_EQ(GNT_FLEX_RING_SIZE(0), 2048);
}

TEST(ring_shared_init)
{
	blk_sring_t *s = (blk_sring_t *)page;
	blk_front_ring_t fr;
	unsigned i;

	memset(page, 0xff, sizeof(page));
	GNT_XEN_FRONT_RING_INIT(&fr, s, 2 * PAGE);
	CHECK_EQ(s->req_prod, 0);
	CHECK_EQ(s->rsp_prod, 0);
	CHECK_EQ(s->req_event, 1);
	CHECK_EQ(s->rsp_event, 1);
	for (i = 16; i < 64; i++)
		CHECK_EQ(page[i], 0);
	CHECK_EQ(page[64], 0xff); /* slots are left alone */
	CHECK_EQ(fr.req_prod_pvt, 0);
	CHECK_EQ(fr.rsp_cons, 0);
	CHECK_EQ(GNT_RING_SIZE(&fr), 64);
	CHECK(fr.sring == s);
	CHECK_EQ(GNT_RING_FREE_REQUESTS(&fr), 64);
}

/* Facts about blkif's ring from Xen's headers, from Xen's headers built by
 * gnt's macros, and from gnt's own equivalent types: all equal. */
TEST(ring_layout_matches_xen)
{
	struct ring_fact x[64], g[64];
	int nx = ring_xen_facts(x, 64), ng = ring_xennames_facts(g, 64);
	int i;

	if (nx < 0 || ng < 0)
		FAIL("Xen's headers missing: apt-get install libxen-dev (tests/deps.sh)");
	CHECK(nx <= 64);
	CHECK_EQ(ng, nx);
	for (i = 0; i < nx; i++) {
		if (strcmp(x[i].name, g[i].name) != 0 || x[i].value != g[i].value)
			FAIL("%s: Xen %ld, gnt (Xen names) %s %ld", x[i].name, x[i].value,
			     g[i].name, g[i].value);
	}
	/* and the numbers our own types give */
	for (i = 0; i < nx; i++) {
		long want = -1;
		const char *n = x[i].name;

		if (!strcmp(n, "sizeof entry"))
			want = sizeof(union blk_sring_entry);
		else if (!strcmp(n, "sring.ring"))
			want = offsetof(struct blk_sring, ring);
		else if (!strcmp(n, "sring.__pad"))
			want = offsetof(struct blk_sring, __pad);
		else if (!strcmp(n, "const ring size 4096"))
			want = GNT_CONST_RING_SIZE(blk, 4096);
		else if (!strcmp(n, "const ring size 16384"))
			want = GNT_CONST_RING_SIZE(blk, 16384);
		else if (!strcmp(n, "netif tx ring size 4096"))
			want = GNT_CONST_RING_SIZE(ntx, 4096);
		else if (!strcmp(n, "netif rx ring size 4096"))
			want = GNT_CONST_RING_SIZE(nrx, 4096);
		else if (!strcmp(n, "req.seg"))
			want = offsetof(struct blk_req, seg);
		else if (!strcmp(n, "rsp.status"))
			want = offsetof(struct blk_rsp, status);
		else if (!strcmp(n, "front.sring"))
			want = offsetof(blk_front_ring_t, sring);
		else
			continue;
		if (want != x[i].value)
			FAIL("%s: Xen %ld, gnt %ld", n, x[i].value, want);
	}
}

/* Fill a request whose sector_number is a checksum of the rest. */
static uint64_t req_sum(const struct blk_req *r)
{
	uint64_t h = r->id * 0x9e3779b97f4a7c15ull;
	int k;

	for (k = 0; k < r->nr_segments && k < 11; k++)
		h = (h ^ r->seg[k].gref) * 0x100000001b3ull;
	return h;
}

static void make_req(struct blk_req *r, uint64_t id)
{
	int k;

	memset(r, 0, sizeof(*r));
	r->operation = 1;
	r->nr_segments = (uint8_t)(1 + id % 11);
	r->id = id;
	for (k = 0; k < 11; k++)
		r->seg[k].gref = (uint32_t)(id * 31 + (uint64_t)k);
	r->sector_number = req_sum(r);
}

/* Both sides in one thread, indexes starting 16 before 2^32: fill, drain,
 * respond in batches of every size, through the wrap. */
TEST(ring_wraparound)
{
	blk_front_ring_t fr;
	blk_back_ring_t br;
	uint64_t next_id = 0, next_rsp = 0;
	int round;

	ring_at(0xFFFFFFF0u, &fr, &br);
	CHECK_EQ(GNT_RING_FREE_REQUESTS(&fr), 32);
	for (round = 0; round < 200; round++) {
		unsigned batch = 1 + (unsigned)round % 32, k, n;
		struct blk_req q;
		struct blk_rsp p;

		for (k = 0; k < batch; k++) {
			CHECK(!GNT_RING_FULL(&fr));
			make_req(GNT_RING_GET_REQUEST(&fr, fr.req_prod_pvt), next_id++);
			fr.req_prod_pvt++;
		}
		CHECK_EQ(GNT_RING_FREE_REQUESTS(&fr), 32 - batch);
		CHECK_EQ(GNT_RING_FULL(&fr), batch == 32);
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_REQUESTS(&br), 0); /* not pushed */
		GNT_RING_PUSH_REQUESTS(&fr);
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_REQUESTS(&br), batch);
		CHECK(!GNT_RING_REQUEST_PROD_OVERFLOW(&br, GNT_RING_REQ_PROD(&br)));
		for (n = 0; (k = GNT_RING_HAS_UNCONSUMED_REQUESTS(&br)) != 0; n++) {
			struct blk_rsp *rsp;

			CHECK(!GNT_RING_REQUEST_CONS_OVERFLOW(&br, br.req_cons));
			GNT_RING_COPY_REQUEST(&br, br.req_cons, &q);
			br.req_cons++;
			CHECK_EQ(q.sector_number, req_sum(&q));
			rsp = GNT_RING_GET_RESPONSE(&br, br.rsp_prod_pvt);
			rsp->id = q.id;
			rsp->status = 0;
			br.rsp_prod_pvt++;
		}
		CHECK_EQ(n, batch);
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_RESPONSES(&fr), 0);
		GNT_RING_PUSH_RESPONSES(&br);
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_RESPONSES(&fr), batch);
		CHECK(!GNT_RING_RESPONSE_PROD_OVERFLOW(&fr, GNT_RING_RSP_PROD(&fr)));
		while (GNT_RING_HAS_UNCONSUMED_RESPONSES(&fr)) {
			GNT_RING_COPY_RESPONSE(&fr, fr.rsp_cons, &p);
			fr.rsp_cons++;
			CHECK_EQ(p.id, next_rsp++);
		}
		CHECK_EQ(GNT_RING_FREE_REQUESTS(&fr), 32);
	}
	CHECK_EQ(next_rsp, next_id);
	CHECK(fr.req_prod_pvt < 0x1000); /* wrapped */
	CHECK_EQ(fr.req_prod_pvt, (uint32_t)(0xFFFFFFF0u + next_id));
}

/* Notification hold-off: notify only when the event index is crossed;
 * FINAL_CHECK re-arms the event at cons + 1. */
TEST(ring_notify_holdoff)
{
	static const uint32_t starts[] = {0, 0xFFFFFFFEu, 0x7FFFFFFFu};
	unsigned t;

	for (t = 0; t < 3; t++) {
		uint32_t st = starts[t];
		blk_front_ring_t fr;
		blk_back_ring_t br;
		blk_sring_t *s = ring_at(st, &fr, &br);
		int notify = -1, work = -1;

		/* initial event = start + 1: the first request notifies */
		fr.req_prod_pvt++;
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 1);
		CHECK_EQ(s->req_prod, st + 1);
		/* the back end has not re-armed: no more notifications */
		fr.req_prod_pvt += 3;
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 0);
		/* a push of nothing never notifies */
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 0);
		/* back end: work pending, FINAL_CHECK leaves the event alone */
		GNT_RING_FINAL_CHECK_FOR_REQUESTS(&br, work);
		CHECK_EQ(work, 4);
		CHECK_EQ(s->req_event, st + 1);
		br.req_cons += 4;
		/* idle: FINAL_CHECK arms event = cons + 1 and reports nothing */
		GNT_RING_FINAL_CHECK_FOR_REQUESTS(&br, work);
		CHECK_EQ(work, 0);
		CHECK_EQ(s->req_event, st + 5);
		fr.req_prod_pvt++;
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 1);
		/* an event several requests ahead (a back end batching): the
		 * push that crosses it notifies, not before */
		s->req_event = st + 9;
		fr.req_prod_pvt += 2; /* st+7 */
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 0);
		fr.req_prod_pvt += 2; /* st+9: event crossed */
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 1);
		/* an event behind us (stale) does not notify */
		fr.req_prod_pvt += 1;
		GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
		CHECK_EQ(notify, 0);

		/* the same on the response side */
		br.req_cons = fr.req_prod_pvt;
		br.rsp_prod_pvt += 2;
		GNT_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		CHECK_EQ(notify, 1); /* rsp_event = st + 1 */
		br.rsp_prod_pvt += 1;
		GNT_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		CHECK_EQ(notify, 0);
		GNT_RING_FINAL_CHECK_FOR_RESPONSES(&fr, work);
		CHECK_EQ(work, 3);
		CHECK_EQ(s->rsp_event, st + 1);
		fr.rsp_cons += 3;
		GNT_RING_FINAL_CHECK_FOR_RESPONSES(&fr, work);
		CHECK_EQ(work, 0);
		CHECK_EQ(s->rsp_event, st + 4);
		br.rsp_prod_pvt += 1;
		GNT_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		CHECK_EQ(notify, 1);
		/* FINAL_CHECK finding work that arrived after the check */
		GNT_RING_FINAL_CHECK_FOR_RESPONSES(&fr, work);
		CHECK_EQ(work, 1);
	}
}

/* A hostile front end moves req_prod anywhere: the back end sees the
 * overflow and never more than RING_SIZE requests. */
TEST(ring_hostile_req_prod)
{
	static const uint32_t starts[] = {0, 0xFFFFFFF0u};
	unsigned t, k;

	for (t = 0; t < 2; t++) {
		uint32_t st = starts[t];
		const uint32_t bad[] = {st + 33, st + 0x80000000u, st - 1, st + 0xFFFFFFFFu,
					st + 1000};
		blk_front_ring_t fr;
		blk_back_ring_t br;
		blk_sring_t *s = ring_at(st, &fr, &br);

		/* a full ring is fine */
		s->req_prod = st + 32;
		CHECK(!GNT_RING_REQUEST_PROD_OVERFLOW(&br, GNT_RING_REQ_PROD(&br)));
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_REQUESTS(&br), 32);
		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			unsigned n = 0;
			uint32_t rc = br.req_cons, rp;

			s->req_prod = bad[k];
			rp = GNT_RING_REQ_PROD(&br);
			CHECK(GNT_RING_REQUEST_PROD_OVERFLOW(&br, rp));
			CHECK(GNT_RING_HAS_UNCONSUMED_REQUESTS(&br) <= 32);
			/* a back end that ignores the overflow check still
			 * stops at the ring size */
			while (rc != rp && !GNT_RING_REQUEST_CONS_OVERFLOW(&br, rc)) {
				rc++;
				n++;
			}
			CHECK(n <= 32);
		}
		/* after consuming 10 without responding: at most 22 more */
		s->req_prod = st + 0x80000000u;
		br.req_cons = st + 10;
		CHECK_EQ(GNT_RING_HAS_UNCONSUMED_REQUESTS(&br), 22);
		CHECK(GNT_RING_REQUEST_CONS_OVERFLOW(&br, st + 32));
		CHECK(!GNT_RING_REQUEST_CONS_OVERFLOW(&br, st + 31));

		/* a hostile back end moves rsp_prod */
		fr.req_prod_pvt = st + 5;
		s->rsp_prod = st + 33;
		CHECK(GNT_RING_RESPONSE_PROD_OVERFLOW(&fr, GNT_RING_RSP_PROD(&fr)));
		s->rsp_prod = st - 1;
		CHECK(GNT_RING_RESPONSE_PROD_OVERFLOW(&fr, GNT_RING_RSP_PROD(&fr)));
		s->rsp_prod = st + 32;
		CHECK(!GNT_RING_RESPONSE_PROD_OVERFLOW(&fr, GNT_RING_RSP_PROD(&fr)));

		/* the peer scribbles on our own published index: our private
		 * copy decides; the next push publishes it again */
		s->req_prod = 0x12345678u;
		CHECK_EQ(GNT_RING_FREE_REQUESTS(&fr), 32 - 5);
		GNT_RING_PUSH_REQUESTS(&fr);
		CHECK_EQ(s->req_prod, st + 5);
		/* and on the geometry it cannot reach: nr_ents is private */
		CHECK_EQ(GNT_RING_SIZE(&br), 32);
	}
}

/* A peer flips nr_segments while the back end works: the back end copies,
 * validates the copy and only uses the copy (XSA-155). */
static volatile int flip_stop;

static void *flipper(void *arg)
{
	struct blk_req *slot = arg;

	while (!__atomic_load_n(&flip_stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&slot->nr_segments, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&slot->nr_segments, 255, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(ring_copy_request_double_fetch)
{
	blk_front_ring_t fr;
	blk_back_ring_t br;
	pthread_t th;
	uint32_t sums[11];
	int i, big = 0, ok = 0;

	ring_at(0, &fr, &br);
	make_req(GNT_RING_GET_REQUEST(&fr, 0), 7);
	fr.req_prod_pvt++;
	GNT_RING_PUSH_REQUESTS(&fr);
	CHECK_EQ(pthread_create(&th, NULL, flipper, GNT_RING_GET_REQUEST(&fr, 0)), 0);
	for (i = 0; i < 200000; i++) {
		struct blk_req q;
		int k;

		GNT_RING_COPY_REQUEST(&br, br.req_cons, &q);
		if (q.nr_segments > 11) {
			big++;
			continue;
		}
		/* uses only the validated copy: in bounds whatever the
		 * peer does now (ASan would see a re-read that is not) */
		for (k = 0; k < q.nr_segments; k++)
			sums[k] = q.seg[k].gref;
		ok++;
	}
	__atomic_store_n(&flip_stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	CHECK_EQ(big + ok, 200000);
	(void)sums;
}

/* A front end built with Xen's own macros (libxen-dev's ring.h) and a back
 * end built with gnt's on the same page, through the u32 wrap. */
TEST(ring_xen_front_gnt_back)
{
	blk_back_ring_t br;
	blk_sring_t *s = (blk_sring_t *)page;
	uint32_t st = 0xFFFFFFE0u;
	uint64_t id = 0, got = 0;
	int n, round;

	n = ring_xen_front_init(page, PAGE, st);
	if (n < 0)
		FAIL("Xen's headers missing: apt-get install libxen-dev (tests/deps.sh)");
	CHECK_EQ(n, 32);
	GNT_BACK_RING_ATTACH(&br, s, st, PAGE);
	for (round = 0; round < 20; round++) {
		int notify = 0, notified = 0, work;
		unsigned k, batch = 1 + (unsigned)round * 3 % 32;

		for (k = 0; k < batch; k++) {
			CHECK_EQ(ring_xen_front_push(id, id * 8, &notify), 0);
			notified += notify;
			id++;
		}
		CHECK_EQ(notified, 1); /* the back end was idle: one wakeup */
		GNT_RING_FINAL_CHECK_FOR_REQUESTS(&br, work);
		CHECK_EQ(work, batch);
		while (GNT_RING_HAS_UNCONSUMED_REQUESTS(&br)) {
			struct blk_req q;
			struct blk_rsp *r;

			GNT_RING_COPY_REQUEST(&br, br.req_cons, &q);
			br.req_cons++;
			CHECK_EQ(q.operation, 0);
			CHECK_EQ(q.nr_segments, 1);
			CHECK_EQ(q.sector_number, q.id * 8);
			CHECK_EQ(q.seg[0].gref, (uint32_t)q.id);
			CHECK_EQ(q.seg[0].last_sect, 7);
			r = GNT_RING_GET_RESPONSE(&br, br.rsp_prod_pvt);
			r->id = q.id;
			r->operation = q.operation;
			r->status = (int16_t)(q.id % 3 == 0 ? -1 : 0);
			br.rsp_prod_pvt++;
		}
		CHECK_EQ(ring_xen_front_final_check(), 0 + (int)0); /* none pushed yet: arms */
		GNT_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
		CHECK_EQ(notify, 1);
		GNT_RING_FINAL_CHECK_FOR_REQUESTS(&br, work); /* re-arm */
		CHECK_EQ(work, 0);
		for (;;) {
			uint64_t rid;
			int16_t st16;

			if (!ring_xen_front_poll(&rid, &st16))
				break;
			CHECK_EQ(rid, got);
			CHECK_EQ(st16, got % 3 == 0 ? -1 : 0);
			got++;
		}
		CHECK_EQ(got, id);
	}
	CHECK(br.req_cons < 0x1000); /* wrapped */
}

/* ---- two threads, 1e6 requests ----------------------------------------- */

#define STRESS_N 1000000u

struct stress {
	blk_front_ring_t fr;
	blk_back_ring_t br;
	sem_t to_back, to_front; /* stand-ins for event channels */
	const char *err;
	uint64_t back_sum, front_sum;
};

static int wait_kick(sem_t *sem)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	while (sem_timedwait(sem, &ts) != 0) {
		if (errno != EINTR)
			return -1; /* a lost notification hangs here */
	}
	return 0;
}

static void *stress_back(void *arg)
{
	struct stress *st = arg;
	blk_back_ring_t *br = &st->br;
	uint32_t done = 0;

	while (done < STRESS_N) {
		uint32_t rc = br->req_cons, rp = GNT_RING_REQ_PROD(br);
		int notify, work;

		if (GNT_RING_REQUEST_PROD_OVERFLOW(br, rp)) {
			st->err = "back: req_prod overflow";
			return NULL;
		}
		while (rc != rp && !GNT_RING_REQUEST_CONS_OVERFLOW(br, rc)) {
			struct blk_req q;
			struct blk_rsp *r;

			GNT_RING_COPY_REQUEST(br, rc, &q);
			br->req_cons = ++rc;
			r = GNT_RING_GET_RESPONSE(br, br->rsp_prod_pvt);
			r->id = q.id;
			r->operation = q.operation;
			r->status = (int16_t)(q.sector_number == req_sum(&q) && q.id == done ? 0 : -1);
			st->back_sum += q.sector_number;
			br->rsp_prod_pvt++;
			done++;
		}
		GNT_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(br, notify);
		if (notify)
			sem_post(&st->to_front);
		GNT_RING_FINAL_CHECK_FOR_REQUESTS(br, work);
		if (!work && done < STRESS_N && wait_kick(&st->to_back) != 0) {
			st->err = "back: no notification for 20 s";
			return NULL;
		}
	}
	return NULL;
}

static void *stress_front(void *arg)
{
	struct stress *st = arg;
	blk_front_ring_t *fr = &st->fr;
	uint32_t sent = 0, recvd = 0;

	while (recvd < STRESS_N) {
		uint32_t pushed = 0, rp;
		int notify, work;

		while (sent < STRESS_N && !GNT_RING_FULL(fr)) {
			struct blk_req *q = GNT_RING_GET_REQUEST(fr, fr->req_prod_pvt);

			make_req(q, sent);
			st->front_sum += q->sector_number;
			fr->req_prod_pvt++;
			sent++;
			pushed++;
		}
		if (pushed) {
			GNT_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(fr, notify);
			if (notify)
				sem_post(&st->to_back);
		}
		rp = GNT_RING_RSP_PROD(fr);
		if (GNT_RING_RESPONSE_PROD_OVERFLOW(fr, rp)) {
			st->err = "front: rsp_prod overflow";
			return NULL;
		}
		while (fr->rsp_cons != rp) {
			struct blk_rsp r;

			GNT_RING_COPY_RESPONSE(fr, fr->rsp_cons, &r);
			fr->rsp_cons++;
			if (r.id != recvd || r.status != 0) {
				st->err = "front: bad response (order or checksum)";
				return NULL;
			}
			recvd++;
		}
		if (sent < STRESS_N && !GNT_RING_FULL(fr))
			continue;
		GNT_RING_FINAL_CHECK_FOR_RESPONSES(fr, work);
		if (!work && recvd < STRESS_N && wait_kick(&st->to_front) != 0) {
			st->err = "front: no notification for 20 s";
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(ring_stress_two_threads, 180)
{
	static struct stress st;
	pthread_t tf, tb;

	ring_at(0xFFFF0000u, &st.fr, &st.br); /* wraps after 65536 */
	CHECK_EQ(sem_init(&st.to_back, 0, 0), 0);
	CHECK_EQ(sem_init(&st.to_front, 0, 0), 0);
	CHECK_EQ(pthread_create(&tb, NULL, stress_back, &st), 0);
	CHECK_EQ(pthread_create(&tf, NULL, stress_front, &st), 0);
	pthread_join(tf, NULL);
	if (st.err) /* the back end may be waiting for more */
		FAIL("%s", st.err);
	pthread_join(tb, NULL);
	if (st.err)
		FAIL("%s", st.err);
	CHECK_EQ(st.fr.rsp_cons, (uint32_t)(0xFFFF0000u + STRESS_N));
	CHECK_EQ(st.br.req_cons, (uint32_t)(0xFFFF0000u + STRESS_N));
	CHECK(st.front_sum == st.back_sum);
	sem_destroy(&st.to_back);
	sem_destroy(&st.to_front);
}

/* ---- flex rings ---------------------------------------------------------- */

GNT_DEFINE_FLEX_RING_AND_INTF(fx);

TEST(ring_flex)
{
	unsigned char buf[16] = {0}, out[16] = {0};
	gnt_ring_idx_t prod = 0xFFFFFFF8u, cons = prod, mp, mc;
	unsigned i;

	CHECK_EQ(offsetof(struct fx_data_intf, in_prod), 4);
	CHECK_EQ(offsetof(struct fx_data_intf, out_cons), 64);
	CHECK_EQ(offsetof(struct fx_data_intf, out_prod), 68);
	CHECK_EQ(offsetof(struct fx_data_intf, ring_order), 128);
	CHECK_EQ(offsetof(struct fx_data_intf, ref), 132);
	CHECK_EQ(fx_mask(19, 16), 3);
	CHECK_EQ(fx_get_ring_ptr(buf, 19, 16) - buf, 3);
	CHECK_EQ(fx_queued(5, 5, 16), 0);
	CHECK_EQ(fx_queued(5, 3, 16), 2);
	CHECK_EQ(fx_queued(3 + 16, 3, 16), 16); /* full */
	CHECK_EQ(fx_queued(2, 0xFFFFFFFEu, 16), 4); /* across the wrap */
	/* hostile indexes still give a count in [1, size] */
	CHECK_EQ(fx_queued(3 + 17, 3, 16), 1);
	CHECK(fx_queued(0x80000000u, 0, 16) <= 16);

	/* write 11 bytes at masked 8: wraps after 8 */
	mp = fx_mask(prod, 16);
	mc = fx_mask(cons, 16);
	for (i = 0; i < 11; i++)
		out[i] = (unsigned char)(0x40 + i);
	fx_write_packet(buf, out, 11, &mp, mc, 16);
	CHECK_EQ(mp, 3);
	prod += 11;
	CHECK_EQ(fx_queued(prod, cons, 16), 11);
	CHECK_EQ(buf[8], 0x40);
	CHECK_EQ(buf[0], 0x48);
	memset(out, 0, sizeof(out));
	fx_read_packet(out, buf, 11, mp, &mc, 16);
	CHECK_EQ(mc, 3);
	for (i = 0; i < 11; i++)
		CHECK_EQ(out[i], 0x40 + i);
	/* a length over the size copies nothing; an unmasked index is masked */
	mc = 0xFFFFFFF3u;
	fx_read_packet(out, buf, 17, mp, &mc, 16);
	CHECK_EQ(mc, 0xFFFFFFF3u);
	fx_read_packet(out, buf, 1, mp, &mc, 16);
	CHECK_EQ(mc, 4);
	CHECK_EQ(out[0], buf[3]);
}
