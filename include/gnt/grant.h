/* SPDX-License-Identifier: MIT */
/*
 * gnt/grant.h - libgnt's grant API: the kernel-style API of Linux's grant
 * driver (include/xen/grant_table.h), for a process of a gnt domain.
 *
 * Conventions (whole file):
 *  - Functions returning int return >= 0 on success or a negative errno.
 *  - The library connects to gntd on first use (see gnt_open()).
 *  - All functions are thread-safe.  After fork() the child gets its own
 *    connection to the same domain on its first call; mappings and pages the
 *    parent had stay valid in the child (they are MAP_SHARED).
 *  - gntd's death is fail-stop (docs/design.md, "gntd's death"): once the
 *    process knows (its connection reports it), every call that needs gntd
 *    returns -ESHUTDOWN until gnt_close(); mappings stay; ending access to
 *    a grant returns 0 (still in use) for good.
 *  - Grant references are domain-wide: processes of one domain share the
 *    grant table and never hand out the same ref twice.
 */
#ifndef GNT_GRANT_H
#define GNT_GRANT_H

#include <stddef.h>
#include <stdint.h>

#include "gnt/xen.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GNT_INVALID_GFN   UINT64_MAX
#define GNT_LIST_END      0xffffffffU
#define INVALID_GRANT_REF ((grant_ref_t)-1)
#define INVALID_GRANT_HANDLE ((grant_handle_t)-1)

/* ---- connection ---------------------------------------------------- */

/* Connect this process to its domain.  A process of domain D finds the
 * descriptor gntd made for D in $GNT_FD (set by `gnt exec`); a process
 * without $GNT_FD is the control domain (dom0) if it may open
 * <runtime-dir>/gntd.sock.  Idempotent.  -ENOENT: no gntd; -EACCES: not
 * allowed to be dom0; -EBADF: $GNT_FD is not a gnt descriptor. */
int gnt_open(void);
/* Drop this process's connection (its domain lives on while it has other
 * processes).  Mappings stay in place until unmapped. */
void gnt_close(void);
/* This process's domain id, or a negative errno. */
int gnt_domid(void);

/* Xen's text for a GNTST_* status ("okay", "invalid grant reference"...). */
const char *gnt_status_str(int16_t status);

/* ---- raw hypercalls (Xen's HYPERVISOR_*_op) ------------------------- */

/* GNTTABOP_* on an array of `count` structs.  Returns 0 with a GNTST_*
 * status in each element, or -errno for the whole call (-EINVAL bad count,
 * -ENOSYS unknown op).  map_grant_ref with GNTMAP_host_map maps each frame
 * at its host_addr (which must be page-aligned memory of this process, e.g.
 * from gnt_alloc_ballooned_pages); unmap_grant_ref unmaps it again (the
 * pages become inaccessible, the address range stays reserved).
 * setup_table writes nr_frames frame numbers to frame_list. */
long gnt_grant_table_op(unsigned int cmd, void *args, unsigned int count);
/* GNTTABOP_transfer: the page at each op's mfn (a gfn of ours, a one-page
 * unit such as gnt_alloc_page() gives, mapped by nobody) goes to domain
 * `domid` through its accept_transfer entry `ref`.  The page is gone from
 * this domain (this process's mapping of it is removed) unless the status is
 * GNTST_bad_page, even when the transfer fails, as in Xen. */
/* XENMEM_populate_physmap / increase_reservation: allocates nr_extents
 * extents of 2^extent_order pages, writes their gfns to extent_start and
 * maps them into this process (see gnt_gfn_to_virt).  With
 * GNT_MEMF_one_unit in mem_flags all extents form one allocation unit.
 * XENMEM_decrease_reservation: releases whole units named by their first gfn.
 * Returns the number of extents done, or -errno.
 * XENMEM_exchange (arg: struct xen_memory_exchange, nr_exchanged zeroed):
 * gives up in's extents (whole allocation units, named by their gfns: each
 * unit's pages all in one chunk, in order) for out.nr_extents new extents of
 * 2^out.extent_order contiguous pages each (one unit each), written to
 * out.extent_start and mapped into this process.  Works in chunks of
 * 2^max(in, out order) pages, each done completely or not at all;
 * nr_exchanged tells the input extents done.  Returns 0, or -errno (Xen's:
 * -EPERM order above 9 (18 for dom0) or another domain, -ESRCH no such
 * domain, -EINVAL bad sizes, domids or inputs (not ours, mapped by someone,
 * a unit split or repeated), -ENOMEM, -EFAULT a NULL extent list). */
long gnt_memory_op(unsigned int cmd, void *arg);
#define GNT_MEMF_one_unit (1u << 31)

/* ---- pages ------------------------------------------------------------ */

/* n pages of this domain's memory, zeroed, as one allocation unit, mapped
 * read-write.  NULL with errno (ENOMEM: over the domain's memory limit). */
void *gnt_alloc_pages(size_t n);
/* Give back pages from gnt_alloc_pages (exactly the same n).  Frames still
 * mapped by other domains stay alive until they unmap them. */
void gnt_free_pages(void *p, size_t n);
void *gnt_alloc_page(void);
void gnt_free_page(void *page);
/* gfn of the page at p (any address inside it), or GNT_INVALID_GFN. */
uint64_t gnt_virt_to_gfn(const void *p);
/* Address of frame gfn of this domain in this process, or NULL.  A frame
 * this process has not mapped yet (another process of the domain populated
 * it, or a transfer brought it) is mapped now, with its whole unit. */
void *gnt_gfn_to_virt(uint64_t gfn);
/* Reserve n pages of address space to map foreign frames into (Linux's
 * ballooned pages).  Inaccessible until mapped.  NULL with errno. */
void *gnt_alloc_ballooned_pages(size_t n);
void gnt_free_ballooned_pages(void *p, size_t n);

/* ---- granting --------------------------------------------------------- */

/* Allocate a ref and grant `domid` access to frame gfn.  Returns the ref or
 * -ENOSPC (table full at max_grant_frames). */
int gnt_grant_foreign_access(domid_t domid, uint64_t gfn, int readonly);
/* Fill a ref you claimed: domid and frame first, then flags (release). */
void gnt_grant_foreign_access_ref(grant_ref_t ref, domid_t domid, uint64_t gfn,
				  int readonly);
/* End access if the grantee is not using it: 1 ended, 0 still in use.  Does
 * not free the ref. */
int gnt_end_foreign_access_ref(grant_ref_t ref);
/* End access and free the ref: 1 done, 0 still in use (nothing changed). */
int gnt_try_end_foreign_access(grant_ref_t ref);
/* End access and free the ref, now or, while the grantee still maps it,
 * later (retried every GNT_DEFERRED_MS, default 1000 ms, by a library
 * thread).  page: NULL, or a page from gnt_alloc_page() that is freed once
 * the grant has ended; the caller must not touch it again. */
void gnt_end_foreign_access(grant_ref_t ref, void *page);
/* Grants whose end is still deferred; gnt_deferred_poll() retries now. */
unsigned int gnt_deferred_count(void);
void gnt_deferred_poll(void);

/* ---- page transfer (GNTTABOP_transfer, receiver side) ------------------ */

/* Offer to receive a page from `domid`: allocate a ref and make it an
 * accept_transfer entry (Linux's gnttab_grant_foreign_transfer; gntd chooses
 * the new page's gfn, so there is no pfn argument).  Give the ref to the
 * sender, which transfers a page of its own to it with
 * gnt_grant_table_op(GNTTABOP_transfer).  Returns the ref or -ENOSPC. */
int gnt_grant_foreign_transfer(domid_t domid);
/* The same on a ref you claimed. */
void gnt_grant_foreign_transfer_ref(grant_ref_t ref, domid_t domid);
/* End the offer.  Returns the gfn of the page received (now this domain's
 * memory: gnt_gfn_to_virt maps it; free it with gnt_free_page), or 0 if no
 * page came; either way the entry is free again.  A transfer that gntd has
 * committed is waited for (one round trip to gntd, never an endless spin).
 * Does not free the ref. */
uint64_t gnt_end_foreign_transfer_ref(grant_ref_t ref);
/* The same, and free the ref. */
uint64_t gnt_end_foreign_transfer(grant_ref_t ref);

/* Private lists of refs (Linux gnttab_alloc_grant_references & co.).
 * A list head is a grant_ref_t; GNT_LIST_END is the empty list. */
int gnt_alloc_grant_references(uint16_t count, grant_ref_t *head);
int gnt_claim_grant_reference(grant_ref_t *head);   /* ref or -ENOSPC */
void gnt_release_grant_reference(grant_ref_t *head, grant_ref_t ref);
int gnt_empty_grant_references(const grant_ref_t *head);
void gnt_free_grant_references(grant_ref_t head);
void gnt_free_grant_reference(grant_ref_t ref);

/* ---- mapping ---------------------------------------------------------- */

static inline void gnt_set_map_op(struct gnttab_map_grant_ref *map, void *addr,
				  uint32_t flags, grant_ref_t ref, domid_t domid)
{
	map->host_addr = (uint64_t)(uintptr_t)addr;
	map->flags = flags;
	map->ref = ref;
	map->dom = domid;
	map->status = GNTST_general_error;
	map->handle = INVALID_GRANT_HANDLE;
	map->dev_bus_addr = 0;
}

static inline void gnt_set_unmap_op(struct gnttab_unmap_grant_ref *unmap, void *addr,
				    uint32_t flags, grant_handle_t handle)
{
	(void)flags;
	unmap->host_addr = (uint64_t)(uintptr_t)addr;
	unmap->dev_bus_addr = 0;
	unmap->handle = handle;
	unmap->status = GNTST_general_error;
}

/* Map a batch with one hypercall (more only to retry GNTST_eagain).  Returns
 * 0 (check each status) or -errno for the whole batch. */
int gnt_map_refs(struct gnttab_map_grant_ref *ops, unsigned int count);
/* Unmap a batch with one hypercall; each mapping is gone before gntd drops
 * its pin.  Returns 0 (check each status) or -errno. */
int gnt_unmap_refs(struct gnttab_unmap_grant_ref *ops, unsigned int count);

/* ---- unmap notify (Linux gntdev/gntalloc IOCTL_*_SET_UNMAP_NOTIFY) ------ */

/* What gntd (not this process: it may be dead by then) does when a mapping
 * or a grant goes away, so that the peer learns of it.  flags: */
#define GNT_UNMAP_NOTIFY_CLEAR_BYTE 0x1 /* clear the byte at `offset` */
#define GNT_UNMAP_NOTIFY_SEND_EVENT 0x2 /* send an event on `port` */

/* Mapper side.  When the mapping `handle` (from gnt_map_refs) is unmapped
 * (by any process of this domain), or this process dies (its connection to
 * gntd closes: exit, SIGKILL, gnt_close()), or its domain dies: gntd clears
 * the byte at offset (0..4095) of the mapped frame, then sends an event on
 * port (a port of this domain, bound by any of its processes: the event
 * goes to the port's peer; a port unbound or closed by then sends nothing).
 * Both happen before gntd drops the mapping's pin, so the granter sees the
 * byte clear by the time its gnt_end_foreign_access_ref can succeed.  The
 * mapping itself stays after the process dies while its domain lives
 * (handles are the domain's).  One notify per handle and process: setting
 * again replaces it, flags 0 cancels it; it fires at most once.
 * Returns 0, or -EINVAL (offset >= 4096, unknown flags, CLEAR_BYTE on a
 * read-only mapping, SEND_EVENT with a port that is not an open port of
 * this domain), -ENOENT (handle is not a live mapping of this domain),
 * -ENOSPC (4096 notifies of this process set), or a transport error. */
int gnt_map_set_unmap_notify(grant_handle_t handle, uint32_t offset, uint32_t flags,
			     evtchn_port_t port);
/* Granter side.  When this process dies (its connection to gntd closes) or
 * its domain dies, gntd clears the byte at offset of the frame that ref's
 * entry names now (looked up when this is called) and sends an event on
 * port, as above.  Unlike gntalloc, ending the grant or freeing the page
 * does not fire it (a gnt process keeps its memory until it dies); cancel
 * with flags 0 before reusing the ref.  A frame given back by then (freed
 * pages) is not cleared.  Returns 0, or -EINVAL (offset >= 4096, unknown
 * flags, ref beyond the table, an entry not naming memory of this domain,
 * a bad port as above), -ENOSPC, or a transport error. */
int gnt_grant_set_unmap_notify(grant_ref_t ref, uint32_t offset, uint32_t flags,
			       evtchn_port_t port);

/* Hypercalls issued by this process so far (for tests and benchmarks). */
uint64_t gnt_hypercall_count(void);

#ifdef __cplusplus
}
#endif
#endif
