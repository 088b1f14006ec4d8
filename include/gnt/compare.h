/* SPDX-License-Identifier: MIT */
/*
 * gnt/compare.h - the sharing comparison (`gnt compare-sharing`): the three
 * ways of getting N pages from one domain to another, run between two real
 * domains of a running gntd, counted and timed.  For dom0 only.
 *
 *   GNT_CMP_MAP       the donor grants the pages and a directory (gnt/dir.h),
 *                     sends one ref; the recipient maps the buffer (zero-copy)
 *   GNT_CMP_COPY      the same grants; the recipient GNTTABOP_copy's the pages
 *                     into its own memory, nothing is mapped
 *   GNT_CMP_TRANSFER  the recipient offers accept-transfer refs (in a
 *                     directory it grants); the donor GNTTABOP_transfer's its
 *                     pages into them (ownership moves), in rounds of at most
 *                     4096 pages that the recipient reads and gives back
 *                     before the next (each page is a one-page unit)
 *
 * A "message" is one write of a value by one domain that the other domain
 * reads (here: one datagram on a socket pair between the two processes; in
 * a PV protocol: one xenstore write or one ring request plus its event).
 */
#ifndef GNT_COMPARE_H
#define GNT_COMPARE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { GNT_CMP_MAP, GNT_CMP_COPY, GNT_CMP_TRANSFER, GNT_CMP_APPROACHES };

struct gnt_compare_result {
	int approach;
	uint64_t npages;
	int supported;          /* 0: this gntd refused the operation as a whole */
	int verified;           /* the recipient saw every page's contents */
	uint64_t refs;          /* grant refs used (both domains) */
	uint64_t hc_donor, hc_recip; /* hypercalls, from gnt_hypercall_count() */
	uint64_t messages;      /* both directions */
	double seconds;         /* donor starts granting .. recipient has read all */
};

/* Outcome of a crash while shared, as verified by gnt_compare_crash(). */
enum gnt_compare_outcome {
	GNT_CMP_UNVERIFIED,     /* the approach could not run */
	GNT_CMP_KEEPS_WORKING,  /* the survivor keeps reading and writing the pages */
	GNT_CMP_PAGES_RETURNED, /* the granter ends every grant: nothing held */
	GNT_CMP_NOT_APPLICABLE, /* nothing was shared at that point (copied/moved) */
};

const char *gnt_compare_name(int approach);
const char *gnt_compare_outcome_str(enum gnt_compare_outcome o);

/* Run one approach for npages pages (batches of 65536) between two new
 * domains, then destroy them.  Returns 0 (see r->supported, r->verified) or
 * -errno (no gntd, not dom0, -ENOMEM over a limit). */
int gnt_compare_run(int approach, uint64_t npages, struct gnt_compare_result *r);
/* Share 16 pages by `approach`, SIGKILL the granter (granter_dies) or the
 * recipient while shared, and check what the survivor sees (docs/design.md,
 * "The comparison").  *out is GNT_CMP_UNVERIFIED when the survivor's check
 * failed.  Returns 0 or -errno as gnt_compare_run. */
int gnt_compare_crash(int approach, int granter_dies, enum gnt_compare_outcome *out);

#ifdef __cplusplus
}
#endif
#endif
