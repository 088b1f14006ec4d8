/* SPDX-License-Identifier: MIT */
/*
 * gnt/gntdev.h - what Linux's /dev/xen/gntdev and /dev/xen/gntalloc give a
 * process, for a process of a gnt domain: map a batch of another domain's
 * grants at one address (gntdev), or get pages of this domain granted to
 * another one (gntalloc), with the lifetime of a mapping: the grants stay
 * while the pages are mapped, and go when the process unmaps them, by
 * gnt_gntdev_unmap / gnt_gntalloc_unshare or by a plain munmap().
 *
 * This header includes nothing of Xen's ABI (ids are plain integers), so
 * Xen-compatible code that includes Debian's <xen/...> headers can use it.
 *
 * Conventions (whole file):
 *  - Functions returning a pointer return NULL and set errno on failure;
 *    functions returning int return >= 0 or a negative errno.
 *  - Thread-safe.  The library connects to gntd on first use.
 *  - Mappings belong to the process, not to a handle: there is none.  They
 *    are MAP_SHARED, so after fork() the child sees the same pages; the
 *    grants are released when the process that made the mapping unmaps it
 *    (a child's munmap or unmap changes nothing of its parent's).
 *  - "munmap alone releases it": the library notices pages unmapped behind
 *    its back (munmap, mmap over them) the next time it is called in this
 *    process (any function below, or gnt_gntdev_reap()), and releases them
 *    then, exactly as the explicit calls would.
 *  - When the process dies (exit, SIGKILL), gntd releases what it still
 *    holds, as Linux does at exit: unmap notifies fire (byte, then event),
 *    its mappings are unmapped, and its shares end (each grant as soon as
 *    no peer maps it; the pages are freed after the last one).  A child
 *    that inherited a mapping keeps its pages, but the grants belong to the
 *    process that made them (as root the granter still cannot end a grant
 *    while the child's mapping holds the frame: design.md, "Revocation").
 *  - The limits are the domain's (one count for all its processes, as
 *    Linux's module parameters are one guest kernel's), held by gntd.
 */
#ifndef GNT_GNTDEV_H
#define GNT_GNTDEV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Linux's module parameters: gntdev's `limit` (most grants in one map
 * request) and gntalloc's `limit` (most grants shared at once). */
#define GNT_GNTDEV_LIMIT_DEFAULT   65536u
#define GNT_GNTALLOC_LIMIT_DEFAULT 1024u

/* Unmap notify actions (Linux's UNMAP_NOTIFY_CLEAR_BYTE / _SEND_EVENT). */
#define GNT_NOTIFY_CLEAR_BYTE 0x1
#define GNT_NOTIFY_SEND_EVENT 0x2

/* Connect this process to its domain now (gnt_open() of gnt/grant.h,
 * repeated here so that this header stays free of Xen's ABI). */
int gnt_open(void);

/* ---- gntdev: mapping other domains' grants ----------------------------- */

/* Map count grants (domids[i], refs[i]) at consecutive pages of one new
 * address range, read-write if `writable`, else read-only.  One hypercall.
 * status (may be NULL) receives each grant's GNTST_* code.  NULL with
 * errno: EINVAL count 0 or above the limit, or any grant failed (then
 * nothing is mapped, as Linux's mmap); ENOMEM; or a transport error. */
void *gnt_gntdev_map(uint32_t count, const uint32_t *domids, const uint32_t *refs,
		     int writable, int16_t *status);
/* Unmap a whole mapping from gnt_gntdev_map: addr its start, count its
 * pages.  The address range is free again (munmap'ed) when this returns.
 * 0, or -EINVAL (addr is not the start of a mapping of this process or
 * count differs: nothing changed). */
int gnt_gntdev_unmap(void *addr, uint32_t count);
/* The mapping holding addr: its start and page count (Linux's
 * IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR).  0 or -EINVAL (no mapping there). */
int gnt_gntdev_find(const void *addr, void **start, uint32_t *count);
/* When the mapping holding byte `addr` is released (unmapped, munmap'ed,
 * or this process dies): clear that byte (CLEAR_BYTE) and/or send an event
 * on `port` (SEND_EVENT, a port of this domain: its peer gets it).  One per
 * mapping; a later call replaces it, flags 0 cancels.  0, or -ENOENT (addr
 * is in no mapping of this process), -EINVAL (unknown flags, CLEAR_BYTE on
 * a read-only mapping, SEND_EVENT with a port that is not open). */
int gnt_gntdev_set_unmap_notify(void *addr, uint32_t flags, uint32_t port);
/* Linux's IOCTL_GNTDEV_GRANT_COPY.  A segment has the layout of Xen's
 * xengnttab_grant_copy_segment_t (24 bytes).  flags: GNTCOPY_source_gref
 * (1) and/or GNTCOPY_dest_gref (2); a side without its flag is `virt`, an
 * address of this process (it may cross pages).  Each segment's status
 * gets a GNTST_* code; the call returns 0 even if some failed, or -EINVAL
 * (a segment with neither flag, or a gref side with offset + len > 4096;
 * then nothing was copied), -ENOMEM. */
struct gnt_gntdev_copy_seg {
	union gnt_gntdev_copy_ptr {
		void *virt;
		struct {
			uint32_t ref;
			uint16_t offset;
			uint16_t domid;
		} foreign;
	} source, dest;
	uint16_t len;
	uint16_t flags;
	int16_t status;
};
int gnt_gntdev_copy(uint32_t count, struct gnt_gntdev_copy_seg *segs);

/* Most grants one gnt_gntdev_map may take, for every process of this
 * domain (default 65536, at most 65536; over it gnt_gntdev_map fails with
 * EINVAL).  gnt_gntdev_limit returns 0 if gntd cannot be asked.  Setting:
 * 0 or -EINVAL (0 or above 65536), or a transport error. */
uint32_t gnt_gntdev_limit(void);
int gnt_gntdev_set_limit(uint32_t limit);

/* ---- gntalloc: sharing pages of this domain ---------------------------- */

/* count new zeroed pages of this domain (one allocation unit, so the peer
 * can map them together), each granted to `domid` (read-write if
 * `writable`), mapped read-write here.  The refs go to refs[0..count-1].
 * NULL with errno: EINVAL count 0; ENOSPC more than the limit of grants
 * would be shared at once, or the grant table is full; ENOMEM. */
void *gnt_gntalloc_share(uint32_t domid, uint32_t count, uint32_t *refs, int writable);
/* Xen's xengntshr_unshare: munmap(addr, count pages).  A whole share from
 * gnt_gntalloc_share is released at once (notify, end of access, pages
 * freed); a part of one is released once none of it is mapped any more.
 * 0, or -EINVAL (munmap's error). */
int gnt_gntalloc_unshare(void *addr, uint32_t count);
/* As gnt_gntdev_set_unmap_notify, for the share holding byte `addr`:
 * fired when the share is released or this process dies.  CLEAR_BYTE
 * needs no write access of the peer.  0, -ENOENT, -EINVAL. */
int gnt_gntalloc_set_unmap_notify(void *addr, uint32_t flags, uint32_t port);
/* Most grants all processes of this domain share at once (default 1024),
 * changeable at any time; lowering it below what is shared now only
 * refuses new shares.  Setting: 0 or -EINVAL (0), or a transport error.
 * in_use: grants the domain shares now (a share counts until it is
 * unshared or its process dies, even while a peer still maps it).  Both
 * getters return 0 if gntd cannot be asked. */
uint32_t gnt_gntalloc_limit(void);
int gnt_gntalloc_set_limit(uint32_t limit);
uint32_t gnt_gntalloc_in_use(void);

/* Both limits of domain `domid` (GNT_DOMID_SELF: this domain; another one:
 * dom0 only): set_alloc / set_dev nonzero set that limit first; then the
 * current values go to *alloc, *dev, *alloc_in_use (each may be NULL).
 * 0, -EINVAL (set_dev above 65536), -EPERM (another domain, not dom0),
 * -ESRCH (no such live domain), or a transport error. */
#define GNT_DOMID_SELF 0x7FF0u
int gnt_gntdev_domain_limits(uint32_t domid, uint32_t set_alloc, uint32_t set_dev,
			     uint32_t *alloc, uint32_t *dev, uint32_t *alloc_in_use);

/* Release now whatever this process has unmapped behind the library's back
 * (see above).  Returns how many mappings and shares were released. */
int gnt_gntdev_reap(void);

#ifdef __cplusplus
}
#endif
#endif
