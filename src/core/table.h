/* SPDX-License-Identifier: MIT */
/*
 * core/table.h - internal to the core: the shared grant table of either
 * version (table.c).  Everything a domain writes is read here, once per
 * call, with single atomic loads; GTF_reading/GTF_writing go to the entry's
 * flags (v1) or to the status frame (v2).
 */
#ifndef GNT_CORE_TABLE_H
#define GNT_CORE_TABLE_H

#include "core.h"

/* The word holding flags | domid << 16 of entry ref (either version), and
 * its value read with one atomic load. */
uint32_t *gnt__entry_header_word(const struct gnt_domain *d, grant_ref_t ref);
uint32_t gnt__entry_header(const struct gnt_domain *d, grant_ref_t ref);
/* Xen's _set_status_v1/_v2: check that ref grants `to` what is asked and
 * set GTF_reading (and GTF_writing).  map: no sub_page (and no transitive);
 * pinned: the entry is pinned already (only its read-only bit is checked
 * again, for a write upgrade).  On success *hdr is the header that was
 * checked last.  GNTST_general_error for a bad or unstable entry. */
int16_t gnt__set_status(struct gnt_domain *g, grant_ref_t ref, uint16_t to, bool write,
			bool map, bool pinned, uint32_t *hdr);
/* Clear our own bits (GTF_reading/GTF_writing) of ref. */
void gnt__clear_status(struct gnt_domain *g, grant_ref_t ref, uint16_t bits);
/* The domain is being freed: give its status frames back. */
void gnt__status_free(struct gnt_core *c, struct gnt_domain *d);

#endif
