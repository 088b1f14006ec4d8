/* SPDX-License-Identifier: MIT */
/*
 * tests/compat/xapi.h - thin calls into Xen's API (xengnttab, xengntshr,
 * xenevtchn) compiled against Debian's headers in xapi.c, so that tests
 * including gnt's own headers can drive the drop-ins.  Each returns what
 * Xen's function returns; errno as it left it.
 */
#ifndef GNT_TESTS_XAPI_H
#define GNT_TESTS_XAPI_H

#include <stdint.h>

void *xa_gnttab_open(void);
void *xa_gntshr_open(void);
int xa_gnttab_close(void *h);
int xa_gntshr_close(void *h);
void *xa_map(void *h, uint32_t count, uint32_t domid, uint32_t *refs, int writable);
void *xa_map_notify(void *h, uint32_t domid, uint32_t ref, uint32_t off, uint32_t port);
int xa_unmap(void *h, void *addr, uint32_t count);
int xa_set_max_grants(void *h, uint32_t n);
void *xa_share(void *h, uint32_t domid, int count, uint32_t *refs, int writable);
void *xa_share_notify(void *h, uint32_t domid, uint32_t *ref, uint32_t off, uint32_t port);
int xa_unshare(void *h, void *addr, uint32_t count);
int xa_dmabuf_exp(void *h);
/* grant copy of len bytes from (domid, ref, off) into buf: the call's
 * return; *status the segment's. */
int xa_copy_from(void *h, uint32_t domid, uint32_t ref, uint16_t off, uint16_t len, void *buf,
		 int16_t *status);
int xa_copy_local(void *h); /* a segment with neither side a gref */
/* One segment of xengnttab_grant_copy, without Debian's types: a side is a
 * gref (dom, ref, off) when its *_gref is set, else `virt`. */
struct xa_seg {
	int src_gref, dst_gref;
	uint32_t sdom, sref, ddom, dref;
	uint16_t soff, doff, len;
	int16_t status;
	void *svirt, *dvirt;
};
int xa_copy(void *h, uint32_t n, struct xa_seg *s);

void *xa_evtchn_open(unsigned flags);
int xa_evtchn_close(void *x);
int xa_evtchn_fd(void *x);
int xa_bind_unbound(void *x, uint32_t domid);
int xa_bind_interdomain(void *x, uint32_t domid, uint32_t port);
int xa_bind_virq(void *x, unsigned virq);
int xa_notify(void *x, uint32_t port);
int xa_unbind(void *x, uint32_t port);
int xa_pending(void *x);
int xa_unmask(void *x, uint32_t port);
int xa_restrict(void *x, uint16_t domid);
void *xa_evtchn_fdopen(int fd, unsigned flags);

#endif
