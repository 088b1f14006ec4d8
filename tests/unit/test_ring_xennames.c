/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_ring_xennames.c - gnt/ring.h standing in for Xen's
 * io/ring.h: with GNT_RING_XEN_NAMES defined first, Xen's own blkif.h and
 * netif.h from libxen-dev build their ring types with gnt's macros.  The
 * same facts as test_ring_xen.c, compared by test_ring.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GNT_RING_XEN_NAMES
#include "gnt/ring.h"

#if defined(__has_include)
#if __has_include(<xen/io/blkif.h>)
#define HAVE_XEN_HEADERS 1
#endif
#endif

struct ring_fact {
	const char *name;
	long value;
};

int ring_xennames_facts(struct ring_fact *f, int max);

#ifdef HAVE_XEN_HEADERS
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

/* Xen's own flex ring users build with gnt's flex macros too. */
#include <xen/io/9pfs.h>
#include <xen/io/pvcalls.h>

#define FACT(n, v)                                                             \
	do {                                                                   \
		if (i < max) {                                                 \
			f[i].name = n;                                         \
			f[i].value = (long)(v);                                \
		}                                                              \
		i++;                                                           \
	} while (0)

int ring_xennames_facts(struct ring_fact *f, int max)
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

#else
int ring_xennames_facts(struct ring_fact *f, int max)
{
	(void)f;
	(void)max;
	return -1;
}
#endif
