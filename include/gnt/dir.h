/* SPDX-License-Identifier: MIT */
/*
 * gnt/dir.h - grant-reference directories: share N pages by transmitting one
 * grant reference.  The layout is displif's/sndif's page directory
 * (xen/include/public/io/displif.h `xendispl_page_directory`, Linux
 * `xen_page_directory`): a chain of granted pages, each holding the ref of
 * the next directory page and as many buffer refs as fit (1023), the chain
 * ended by ref 0.  The number of buffer pages is not in the directory: both
 * sides know it from their own protocol (displif's buffer_sz).
 *
 * Conventions as gnt/grant.h: >= 0 or a negative errno, thread-safe.
 */
#ifndef GNT_DIR_H
#define GNT_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "gnt/xen.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GNT_DIR_REFS_PER_PAGE 1023u
#define GNT_DIR_LIST_END 0u /* XEN_GREF_LIST_END */
/* Largest buffer one directory may describe (65535 directory pages). */
#define GNT_DIR_MAX_PAGES (65535ull * GNT_DIR_REFS_PER_PAGE)

/* One directory page, as the donor writes it and the recipient reads it. */
struct gnt_page_directory {
	grant_ref_t gref_dir_next_page;          /* [DONOR] next page's ref, 0: last */
	grant_ref_t gref[GNT_DIR_REFS_PER_PAGE]; /* [DONOR] buffer refs, in order */
};
GNT__ABI(struct gnt_page_directory, 4096);
GNT__OFF(struct gnt_page_directory, gref_dir_next_page, 0);
GNT__OFF(struct gnt_page_directory, gref, 4);

/* Directory pages needed for npages buffer pages: ceil(npages / 1023). */
static inline size_t gnt_dir_pages(size_t npages)
{
	return (npages + GNT_DIR_REFS_PER_PAGE - 1) / GNT_DIR_REFS_PER_PAGE;
}

/* ---- donor ------------------------------------------------------------ */

struct gnt_dir_grant {
	grant_ref_t dir_ref;   /* the one ref to transmit: first directory page */
	domid_t peer;
	size_t npages, ndir;
	grant_ref_t *refs;     /* npages buffer refs, then ndir directory refs */
	void *dir;             /* ndir pages of this domain's memory */
};

/* Grant `peer` the npages pages at buf (this domain's memory, page-aligned;
 * read-only if readonly), write the directory into new pages of this domain
 * and grant those read-only.  Hypercalls: one to populate the directory
 * pages, at most one to grow the grant table; granting itself writes the
 * shared table.  Transmit g->dir_ref (and npages) to the peer.  Returns 0,
 * or -EINVAL (npages 0 or above GNT_DIR_MAX_PAGES, buf not page-aligned
 * memory of this domain), -ENOSPC (grant table full), -ENOMEM; on failure
 * nothing stays granted. */
int gnt_dir_grant(struct gnt_dir_grant *g, domid_t peer, void *buf, size_t npages, int readonly);
/* End every grant of g and free its directory pages and arrays.  Grants the
 * peer still maps are ended later by libgnt's deferred thread (as
 * gnt_end_foreign_access): returns how many were deferred (0: all ended).
 * The buffer stays the caller's (gnt_free_pages is safe at once: frames the
 * peer maps live until it unmaps them). */
size_t gnt_dir_end(struct gnt_dir_grant *g);

/* ---- recipient -------------------------------------------------------- */

/* Read the directory that starts at dir_ref of domain granter into
 * refs[npages].  The directory pages are mapped read-only, read once, and
 * unmapped: two hypercalls when the donor's directory refs are consecutive
 * (libgnt's donor makes them so), one map more per break in that sequence.
 * Returns 0, or -EINVAL (npages 0 or too big), -EPROTO (the chain ends
 * before or goes on after ceil(npages / 1023) pages: a loop is one of
 * these), -EIO (a directory page could not be mapped: *status, if not
 * NULL, gets its GNTST_*), -ENOMEM, or a transport error. */
int gnt_dir_read(domid_t granter, grant_ref_t dir_ref, size_t npages, grant_ref_t *refs,
		 int16_t *status);

struct gnt_dir_map {
	void *addr;            /* the buffer, npages pages */
	size_t npages;
	domid_t granter;
	grant_handle_t *handles;
	int16_t status;        /* after -EIO: the first failing GNTST_* */
	size_t failed_page;    /* ... and the buffer page it belongs to */
};

/* Map the buffer the directory at dir_ref describes: gnt_dir_read, then
 * ceil(npages / batch) map hypercalls of up to batch refs (batch 1..65536;
 * 0 means 65536).  All or nothing: on any failure whatever was mapped is
 * unmapped again.  Returns 0, -EIO (a buffer page could not be mapped:
 * m->status, m->failed_page), the errors of gnt_dir_read, -ENOMEM. */
int gnt_dir_map(struct gnt_dir_map *m, domid_t granter, grant_ref_t dir_ref, size_t npages,
		int readonly, unsigned int batch);
/* Unmap it with ceil(npages / batch) hypercalls and free m's memory.
 * Returns 0 or the first error (the mapping is gone from this process in
 * any case). */
int gnt_dir_unmap(struct gnt_dir_map *m, unsigned int batch);

/* Copy npages granted pages (refs of granter) into dst, this domain's
 * memory (page-aligned, e.g. gnt_alloc_pages), with ceil(npages / batch)
 * GNTTABOP_copy hypercalls; nothing is mapped.  Returns 0, -EIO (a copy
 * failed: *status, if not NULL, its GNTST_*), -EINVAL (dst not memory of
 * this domain, batch above 65536), -ENOMEM, or a transport error. */
int gnt_dir_copy(void *dst, domid_t granter, const grant_ref_t *refs, size_t npages,
		 unsigned int batch, int16_t *status);

#ifdef __cplusplus
}
#endif
#endif
