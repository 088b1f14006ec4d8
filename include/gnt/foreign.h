/* SPDX-License-Identifier: MIT */
/*
 * gnt/foreign.h - foreign pages in libgnt: pages this process maps from
 * other domains' grants (gnt_map_refs).  Reference counts on them, Linux's
 * safe asynchronous unmap (gnttab_unmap_refs_async / _sync: wait until no
 * one holds a page, then unmap) and foreign-page identification (Linux's
 * PG_foreign with {domid, gref} in page->private).
 *
 * Conventions (whole file):
 *  - Functions returning int return >= 0 on success or a negative errno.
 *  - An address p names the page that holds it: any byte of a mapped page
 *    will do.
 *  - All functions are thread-safe.  Lookups and page references never wait
 *    for a call to gntd.
 *  - After fork() the child keeps the parent's mappings (they are
 *    MAP_SHARED), so it sees the same foreign pages with the same reference
 *    counts; unmaps the parent had queued stay the parent's (the child never
 *    retries them and never calls their done).
 */
#ifndef GNT_FOREIGN_H
#define GNT_FOREIGN_H

#include <stdint.h>

#include "gnt/xen.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- foreign-page identification --------------------------------------- */

struct gnt_foreign {
	domid_t domid;         /* the granter (the map op's dom) */
	grant_ref_t gref;      /* the grant mapped (the map op's ref) */
	grant_handle_t handle; /* the mapping, for gnt_unmap_refs */
};

/* Is p inside a page this process maps from a grant?  1: yes, and *out (if
 * not NULL) says which; 0: no (a page of this domain's own memory, an
 * unmapped or ballooned page, any other address).  A page stays foreign from
 * its map until its unmap succeeds.  O(1). */
int gnt_page_foreign(const void *p, struct gnt_foreign *out);

/* ---- page references (Linux's get_page / put_page / page_count) --------- */

/* A mapped foreign page has count 1 (the mapping's own).  Take a reference
 * while the page is in use (e.g. by I/O in flight) so that a safe unmap
 * waits for it.  Returns 0, or -ENOENT (p is not in a mapped foreign page,
 * or that page's unmap has begun), -EOVERFLOW (2^32 - 1 references). */
int gnt_page_get(const void *p);
/* Drop a reference from gnt_page_get.  Returns 0, or -ENOENT (as above),
 * -EINVAL (the count is 1: no reference to drop; the mapping's own goes
 * only with the unmap). */
int gnt_page_put(const void *p);
/* The page's count (>= 1), or -ENOENT. */
int gnt_page_count(const void *p);

/* ---- safe unmap (Linux's gnttab_unmap_refs_async / _sync) ---------------- */

struct gnt_unmap_queue_data;
typedef void (*gnt_unmap_refs_done)(int result, struct gnt_unmap_queue_data *item);

/* A request, in memory of the caller's that must stay valid (with the ops
 * and pages it points to) until done is called. */
struct gnt_unmap_queue_data {
	/* [CALLER] */
	gnt_unmap_refs_done done;
	void *data; /* for done; libgnt does not touch it */
	struct gnttab_unmap_grant_ref *unmap_ops;
	/* pages[i]: an address in the page unmap_ops[i] unmaps (Linux's struct
	 * page *), whose count decides; NULL: each op's own mapping decides */
	void **pages;
	unsigned int count;
	/* [LIBGNT] checks so far after the first (saturates at UINT_MAX);
	 * written by the library thread: read it only for diagnostics */
	unsigned int age;
	/* [LIBGNT] private: queue linkage */
	struct {
		struct gnt_unmap_queue_data *next;
		uint64_t due_ns, gen;
	} link_;
};

/* Unmap item's ops once none of their pages has a count above 1.  If none
 * has now, unmaps at once and calls done before returning.  Otherwise queues
 * the item: a library thread checks again after 5 ms * (age + 1) (age
 * counts the checks, as Linux's GNTTAB_UNMAP_REFS_DELAY backs off; the 5 ms
 * is $GNT_UNMAP_DELAY_MS if set, read at each deferral), meanwhile
 * the mappings stay usable, and done is called from that thread.  done is
 * called exactly once, with no libgnt lock held (it may call libgnt, also
 * this function with the same item), and result:
 *   0 or -errno of gnt_unmap_refs (then check each op's status);
 *   -ESHUTDOWN: teardown cancelled it (nothing was unmapped): gnt_close()
 *     in this process, or its connection to gntd lost (gntd gone).  Every
 *     item queued when gnt_close() is called gets done(-ESHUTDOWN) before
 *     gnt_close() returns; one being checked by the library thread at that
 *     moment gets it from that thread (or its own result if it was unmapped).
 *   -EINVAL: count above 65536 (count 0: done(0) at once);
 *   -EAGAIN: its pages are in use and no library thread could be started.
 * Once a check has found the pages idle, gnt_page_get on them fails. */
void gnt_unmap_refs_async(struct gnt_unmap_queue_data *item);
/* The same, waiting for done: sets item->done and item->data itself.
 * Returns done's result.  Blocks while a page is in use: never call it
 * holding a reference to one of its pages. */
int gnt_unmap_refs_sync(struct gnt_unmap_queue_data *item);

#ifdef __cplusplus
}
#endif
#endif
