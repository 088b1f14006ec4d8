/* SPDX-License-Identifier: MIT */
/* tests/compat/xapi.c - see xapi.h.  Only Debian's headers here. */
#include <string.h>
#include <sys/mman.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "xapi.h"

void *xa_gnttab_open(void) { return xengnttab_open(NULL, 0); }
void *xa_gntshr_open(void) { return xengntshr_open(NULL, 0); }
int xa_gnttab_close(void *h) { return xengnttab_close(h); }
int xa_gntshr_close(void *h) { return xengntshr_close(h); }

void *xa_map(void *h, uint32_t count, uint32_t domid, uint32_t *refs, int writable)
{
	return xengnttab_map_domain_grant_refs(h, count, domid, refs,
					       PROT_READ | (writable ? PROT_WRITE : 0));
}

void *xa_map_notify(void *h, uint32_t domid, uint32_t ref, uint32_t off, uint32_t port)
{
	return xengnttab_map_grant_ref_notify(h, domid, ref, PROT_READ | PROT_WRITE, off, port);
}

int xa_unmap(void *h, void *addr, uint32_t count) { return xengnttab_unmap(h, addr, count); }
int xa_set_max_grants(void *h, uint32_t n) { return xengnttab_set_max_grants(h, n); }

void *xa_share(void *h, uint32_t domid, int count, uint32_t *refs, int writable)
{
	return xengntshr_share_pages(h, domid, count, refs, writable);
}

void *xa_share_notify(void *h, uint32_t domid, uint32_t *ref, uint32_t off, uint32_t port)
{
	return xengntshr_share_page_notify(h, domid, ref, 1, off, port);
}

int xa_unshare(void *h, void *addr, uint32_t count) { return xengntshr_unshare(h, addr, count); }

int xa_dmabuf_exp(void *h)
{
	uint32_t ref = 8, fd;
	return xengnttab_dmabuf_exp_from_refs(h, 1, 0, 1, &ref, &fd);
}

int xa_copy_from(void *h, uint32_t domid, uint32_t ref, uint16_t off, uint16_t len, void *buf,
		 int16_t *status)
{
	xengnttab_grant_copy_segment_t seg;
	int rc;

	memset(&seg, 0, sizeof(seg));
	seg.source.foreign.ref = ref;
	seg.source.foreign.domid = (uint16_t)domid;
	seg.source.foreign.offset = off;
	seg.dest.virt = buf;
	seg.len = len;
	seg.flags = GNTCOPY_source_gref;
	rc = xengnttab_grant_copy(h, 1, &seg);
	*status = seg.status;
	return rc;
}

int xa_copy(void *h, uint32_t n, struct xa_seg *s)
{
	xengnttab_grant_copy_segment_t seg[8];
	int rc;

	if (n > 8)
		return -2;
	memset(seg, 0, sizeof(seg));
	for (uint32_t i = 0; i < n; i++) {
		if (s[i].src_gref) {
			seg[i].source.foreign.ref = s[i].sref;
			seg[i].source.foreign.domid = (uint16_t)s[i].sdom;
			seg[i].source.foreign.offset = s[i].soff;
			seg[i].flags |= GNTCOPY_source_gref;
		} else {
			seg[i].source.virt = s[i].svirt;
		}
		if (s[i].dst_gref) {
			seg[i].dest.foreign.ref = s[i].dref;
			seg[i].dest.foreign.domid = (uint16_t)s[i].ddom;
			seg[i].dest.foreign.offset = s[i].doff;
			seg[i].flags |= GNTCOPY_dest_gref;
		} else {
			seg[i].dest.virt = s[i].dvirt;
		}
		seg[i].len = s[i].len;
		seg[i].status = 99; /* untouched unless the call looked at it */
	}
	rc = xengnttab_grant_copy(h, n, seg);
	for (uint32_t i = 0; i < n; i++)
		s[i].status = seg[i].status;
	return rc;
}

int xa_copy_local(void *h)
{
	char a[8], b[8];
	xengnttab_grant_copy_segment_t seg;

	memset(&seg, 0, sizeof(seg));
	seg.source.virt = a;
	seg.dest.virt = b;
	seg.len = sizeof(a);
	return xengnttab_grant_copy(h, 1, &seg);
}

void *xa_evtchn_open(unsigned flags) { return xenevtchn_open(NULL, flags); }
int xa_evtchn_close(void *x) { return xenevtchn_close(x); }
int xa_evtchn_fd(void *x) { return xenevtchn_fd(x); }
int xa_bind_unbound(void *x, uint32_t domid) { return xenevtchn_bind_unbound_port(x, domid); }
int xa_bind_interdomain(void *x, uint32_t domid, uint32_t port)
{
	return xenevtchn_bind_interdomain(x, domid, port);
}
int xa_bind_virq(void *x, unsigned virq) { return xenevtchn_bind_virq(x, virq); }
int xa_notify(void *x, uint32_t port) { return xenevtchn_notify(x, port); }
int xa_unbind(void *x, uint32_t port) { return xenevtchn_unbind(x, port); }
int xa_pending(void *x) { return xenevtchn_pending(x); }
int xa_unmask(void *x, uint32_t port) { return xenevtchn_unmask(x, port); }
int xa_restrict(void *x, uint16_t domid) { return xenevtchn_restrict(x, domid); }
void *xa_evtchn_fdopen(int fd, unsigned flags) { return xenevtchn_fdopen(NULL, fd, flags); }
