/* SPDX-License-Identifier: MIT */
/*
 * compat/gnttab.c - libxengnttab.so.1 (xengnttab_* and xengntshr_*, Xen
 * 4.17's interface in Debian's <xengnttab.h>) over libgnt's gntdev/gntalloc
 * (gnt/gntdev.h).  Errors are -1/NULL with errno as Linux's gntdev and
 * gntalloc drivers give them to Xen's library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xengnttab.h>

#include "gnt/gntdev.h"

/* Xen's segment and ours are the same bytes: segments pass through. */
_Static_assert(sizeof(xengnttab_grant_copy_segment_t) == sizeof(struct gnt_gntdev_copy_seg),
	       "copy segment size");
_Static_assert(offsetof(xengnttab_grant_copy_segment_t, len) ==
		       offsetof(struct gnt_gntdev_copy_seg, len) &&
	       offsetof(xengnttab_grant_copy_segment_t, status) ==
		       offsetof(struct gnt_gntdev_copy_seg, status) &&
	       offsetof(xengnttab_grant_copy_segment_t, dest) ==
		       offsetof(struct gnt_gntdev_copy_seg, dest),
	       "copy segment layout");

#define NO_PORT ((uint32_t)-1)

/* Mappings belong to the process (gnt/gntdev.h), so a handle is only its
 * descriptor: /dev/null stands in for /dev/xen/gntdev, for callers that
 * poll or restrict it (xentoolcore dup2s /dev/null over it anyway). */
struct xengntdev_handle {
	int fd;
};

static int fail(int err)
{
	errno = err;
	return -1;
}

static struct xengntdev_handle *handle_open(void)
{
	struct xengntdev_handle *h;
	int rc = gnt_open();

	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	h->fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static int handle_close(struct xengntdev_handle *h)
{
	if (!h)
		return 0;
	/* as closing gntdev: what is still mapped stays until munmap */
	gnt_gntdev_reap();
	close(h->fd);
	free(h);
	return 0;
}

/* Linux's UNMAP_NOTIFY request: which byte, which actions. */
static uint32_t notify_flags(uint32_t offset, uint32_t pages, uint32_t port)
{
	uint32_t f = 0;

	if (offset < pages * 4096u)
		f |= GNT_NOTIFY_CLEAR_BYTE;
	if (port != NO_PORT)
		f |= GNT_NOTIFY_SEND_EVENT;
	return f;
}

/* ---- xengnttab -------------------------------------------------------- */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags; /* unused by Xen too */
	return handle_open();
}

int xengnttab_close(xengnttab_handle *xgt)
{
	return handle_close(xgt);
}

int xengnttab_fd(xengnttab_handle *xgt)
{
	return xgt->fd;
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t *domids,
			       uint32_t *refs, int prot)
{
	(void)xgt;
	return gnt_gntdev_map(count, domids, refs, !!(prot & PROT_WRITE), NULL);
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot)
{
	return xengnttab_map_grant_refs(xgt, 1, &domid, &ref, prot);
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
				      uint32_t *refs, int prot)
{
	uint32_t *domids;
	void *p;

	/* over the domain's limit, gnt_gntdev_map says EINVAL */
	if (count == 0 || count > GNT_GNTDEV_LIMIT_DEFAULT) {
		errno = EINVAL;
		return NULL;
	}
	domids = malloc(count * sizeof(*domids));
	if (!domids)
		return NULL;
	for (uint32_t i = 0; i < count; i++)
		domids[i] = domid;
	p = xengnttab_map_grant_refs(xgt, count, domids, refs, prot);
	free(domids);
	return p;
}

void *xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid, uint32_t ref,
				     int prot, uint32_t notify_offset, evtchn_port_t notify_port)
{
	uint8_t *p = xengnttab_map_grant_ref(xgt, domid, ref, prot);
	uint32_t f = notify_flags(notify_offset, 1, notify_port);
	int rc;

	if (!p || !f)
		return p;
	rc = gnt_gntdev_set_unmap_notify(p + (f & GNT_NOTIFY_CLEAR_BYTE ? notify_offset : 0), f,
					 notify_port);
	if (rc < 0) {
		gnt_gntdev_unmap(p, 1);
		errno = -rc;
		return NULL;
	}
	return p;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	void *start;
	uint32_t n;
	int rc;

	(void)xgt;
	if (!start_address)
		return fail(EINVAL);
	rc = gnt_gntdev_find(start_address, &start, &n);
	if (rc < 0)
		return fail(-rc);
	if (n != count || start != start_address)
		return fail(EINVAL);
	rc = gnt_gntdev_unmap(start_address, count);
	return rc < 0 ? fail(-rc) : 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	(void)xgt;
	(void)nr_grants; /* Linux answers ENOTTY, which Xen's library ignores */
	return 0;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs)
{
	int rc;

	(void)xgt;
	rc = gnt_gntdev_copy(count, (struct gnt_gntdev_copy_seg *)segs);
	return rc < 0 ? fail(-rc) : 0;
}

/* dma-bufs need a kernel driver: Xen's answer without one. */
int xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t flags,
				   uint32_t count, const uint32_t *refs, uint32_t *fd)
{
	return fail(EOPNOTSUPP);
}

int xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt, uint32_t fd,
				       uint32_t wait_to_ms)
{
	return fail(EOPNOTSUPP);
}

int xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t fd,
				 uint32_t count, uint32_t *refs)
{
	return fail(EOPNOTSUPP);
}

int xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
	return fail(EOPNOTSUPP);
}

/* ---- xengntshr -------------------------------------------------------- */

xengntshr_handle *xengntshr_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	return handle_open();
}

int xengntshr_close(xengntshr_handle *xgs)
{
	return handle_close(xgs);
}

int xengntshr_fd(xengntshr_handle *xgs)
{
	return xgs->fd;
}

void *xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count, uint32_t *refs,
			    int writable)
{
	(void)xgs;
	if (count <= 0) {
		errno = EINVAL;
		return NULL;
	}
	return gnt_gntalloc_share(domid, (uint32_t)count, refs, writable);
}

void *xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid, uint32_t *ref,
				  int writable, uint32_t notify_offset, evtchn_port_t notify_port)
{
	uint8_t *p = xengntshr_share_pages(xgs, domid, 1, ref, writable);
	uint32_t f = notify_flags(notify_offset, 1, notify_port);
	int rc;

	if (!p || !f)
		return p;
	rc = gnt_gntalloc_set_unmap_notify(p + (f & GNT_NOTIFY_CLEAR_BYTE ? notify_offset : 0),
					   f, notify_port);
	if (rc < 0) {
		gnt_gntalloc_unshare(p, 1);
		errno = -rc;
		return NULL;
	}
	return p;
}

int xengntshr_unshare(xengntshr_handle *xgs, void *start_address, uint32_t count)
{
	int rc;

	(void)xgs;
	rc = gnt_gntalloc_unshare(start_address, count);
	return rc < 0 ? fail(-rc) : 0;
}
