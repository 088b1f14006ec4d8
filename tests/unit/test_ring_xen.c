/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_ring_xen.c - the reference side of test_ring.c: blkif's
 * ring built by Xen's own io/ring.h and io/blkif.h from libxen-dev.  This
 * file includes no gnt header.  It reports layout facts and drives a front
 * end with Xen's macros, so test_ring.c can compare numbers and run a gnt
 * back end against a Xen front end on the same page.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>


#if defined(__has_include)
#if __has_include(<xen/io/blkif.h>)
#define HAVE_XEN_HEADERS 1
#endif
#endif

struct ring_fact {
	const char *name;
	long value;
};

int ring_xen_facts(struct ring_fact *f, int max);
int ring_xen_front_init(void *page, size_t bytes, uint32_t start);
int ring_xen_front_push(uint64_t id, uint64_t sector, int *notify);
int ring_xen_front_poll(uint64_t *id, int16_t *status);
int ring_xen_front_final_check(void);

#ifdef HAVE_XEN_HEADERS
/* Xen's ring.h wants the includer's barriers (interface >= 0x00030208). */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

#define FACT(n, v)                                                             \
	do {                                                                   \
		if (i < max) {                                                 \
			f[i].name = n;                                         \
			f[i].value = (long)(v);                                \
		}                                                              \
		i++;                                                           \
	} while (0)

int ring_xen_facts(struct ring_fact *f, int max)
{
	static unsigned char page[16384] __attribute__((aligned(4096)));
	blkif_front_ring_t fr;
	blkif_back_ring_t br;
	int i = 0;

	FACT("sizeof req", sizeof(struct blkif_request));
	FACT("sizeof rsp", sizeof(struct blkif_response));
	FACT("sizeof entry", sizeof(union blkif_sring_entry));
	FACT("sring.req_prod", offsetof(struct blkif_sring, req_prod));
	FACT("sring.req_event", offsetof(struct blkif_sring, req_event));
	FACT("sring.rsp_prod", offsetof(struct blkif_sring, rsp_prod));
	FACT("sring.rsp_event", offsetof(struct blkif_sring, rsp_event));
	FACT("sring.pvt", offsetof(struct blkif_sring, pvt));
	FACT("sizeof sring.pvt", sizeof(((struct blkif_sring *)0)->pvt));
	FACT("sring.__pad", offsetof(struct blkif_sring, __pad));
	FACT("sring.ring", offsetof(struct blkif_sring, ring));
	FACT("const ring size 4096", __CONST_RING_SIZE(blkif, 4096));
	FACT("const ring size 8192", __CONST_RING_SIZE(blkif, 8192));
	FACT("const ring size 16384", __CONST_RING_SIZE(blkif, 16384));
	FACT("netif tx ring size 4096", __CONST_RING_SIZE(netif_tx, 4096));
	FACT("netif rx ring size 4096", __CONST_RING_SIZE(netif_rx, 4096));
	SHARED_RING_INIT((blkif_sring_t *)page);
	FRONT_RING_INIT(&fr, (blkif_sring_t *)page, 4096);
	FACT("front RING_SIZE 4096", RING_SIZE(&fr));
	BACK_RING_INIT(&br, (blkif_sring_t *)page, 16384);
	FACT("back RING_SIZE 16384", RING_SIZE(&br));
	FACT("init req_event", ((blkif_sring_t *)page)->req_event);
	FACT("init rsp_event", ((blkif_sring_t *)page)->rsp_event);
	FACT("slot 5 offset", (char *)RING_GET_REQUEST(&fr, 5 + 32) - (char *)page);
	FACT("req.operation", offsetof(struct blkif_request, operation));
	FACT("req.nr_segments", offsetof(struct blkif_request, nr_segments));
	FACT("req.handle", offsetof(struct blkif_request, handle));
	FACT("req.id", offsetof(struct blkif_request, id));
	FACT("req.sector_number", offsetof(struct blkif_request, sector_number));
	FACT("req.seg", offsetof(struct blkif_request, seg));
	FACT("rsp.id", offsetof(struct blkif_response, id));
	FACT("rsp.operation", offsetof(struct blkif_response, operation));
	FACT("rsp.status", offsetof(struct blkif_response, status));
	FACT("front.req_prod_pvt", offsetof(blkif_front_ring_t, req_prod_pvt));
	FACT("front.rsp_cons", offsetof(blkif_front_ring_t, rsp_cons));
	FACT("front.nr_ents", offsetof(blkif_front_ring_t, nr_ents));
	FACT("front.sring", offsetof(blkif_front_ring_t, sring));
	FACT("back.rsp_prod_pvt", offsetof(blkif_back_ring_t, rsp_prod_pvt));
	FACT("back.req_cons", offsetof(blkif_back_ring_t, req_cons));
	FACT("back.nr_ents", offsetof(blkif_back_ring_t, nr_ents));
	FACT("back.sring", offsetof(blkif_back_ring_t, sring));
	return i;
}

/* One front end driven by Xen's macros. */
static blkif_front_ring_t xfront;

int ring_xen_front_init(void *page, size_t bytes, uint32_t start)
{
	blkif_sring_t *s = page;

	SHARED_RING_INIT(s);
	s->req_prod = s->rsp_prod = start;
	s->req_event = s->rsp_event = start + 1;
	FRONT_RING_ATTACH(&xfront, s, start, bytes);
	return (int)RING_SIZE(&xfront);
}

/* Queue and push one read request; -1 if the ring is full. */
int ring_xen_front_push(uint64_t id, uint64_t sector, int *notify)
{
	struct blkif_request *req;

	if (RING_FULL(&xfront))
		return -1;
	req = RING_GET_REQUEST(&xfront, xfront.req_prod_pvt);
	memset(req, 0, sizeof(*req));
	req->operation = BLKIF_OP_READ;
	req->nr_segments = 1;
	req->id = id;
	req->sector_number = sector;
	req->seg[0].gref = (grant_ref_t)id;
	req->seg[0].last_sect = 7;
	xfront.req_prod_pvt++;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xfront, *notify);
	return 0;
}

/* Take one response; 0 if there is none. */
int ring_xen_front_poll(uint64_t *id, int16_t *status)
{
	struct blkif_response rsp;

	if (!RING_HAS_UNCONSUMED_RESPONSES(&xfront))
		return 0;
	xen_rmb(); /* rsp_prod before the slot */
	RING_COPY_RESPONSE(&xfront, xfront.rsp_cons, &rsp);
	xfront.rsp_cons++;
	*id = rsp.id;
	*status = rsp.status;
	return 1;
}

int ring_xen_front_final_check(void)
{
	int work;

	RING_FINAL_CHECK_FOR_RESPONSES(&xfront, work);
	return work;
}
#else
int ring_xen_facts(struct ring_fact *f, int max)
{
	(void)f;
	(void)max;
	return -1;
}
int ring_xen_front_init(void *page, size_t bytes, uint32_t start)
{
	(void)page;
	(void)bytes;
	(void)start;
	return -1;
}
int ring_xen_front_push(uint64_t id, uint64_t sector, int *notify)
{
	(void)id;
	(void)sector;
	(void)notify;
	return -1;
}
int ring_xen_front_poll(uint64_t *id, int16_t *status)
{
	(void)id;
	(void)status;
	return -1;
}
int ring_xen_front_final_check(void)
{
	return -1;
}
#endif
