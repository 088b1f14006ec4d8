/* SPDX-License-Identifier: MIT */
/*
 * core/transfer.h - frames that change hands: GNTTABOP_transfer and
 * XENMEM_exchange (transfer.c), on behalf of domain `self`.
 */
#ifndef GNT_CORE_TRANSFER_H
#define GNT_CORE_TRANSFER_H

#include "core.h"

/* GNTTABOP_transfer: a GNTST_* status per element; returns 0.  The sender
 * keeps its page only when the status is GNTST_bad_page. */
int gnt_core_transfer(struct gnt_core *c, struct gnt_domain *self,
		      struct gnttab_transfer *ops, uint32_t count);

/* XENMEM_exchange.  in_gfns: x->in.nr_extents gfns; out_gfns: room for
 * x->out.nr_extents, filled for the extents done.  The units made are
 * appended to made[] (at most max_made; *nmade of them): when the next chunk
 * would need more, it stops there and returns 0 with x->nr_exchanged below
 * x->in.nr_extents (call again to resume).  Returns 0 or -errno, with
 * x->nr_exchanged the input extents done in all. */
long gnt_core_exchange(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_exchange *x, const uint64_t *in_gfns,
		       uint64_t *out_gfns, struct gnt_unit **made, uint32_t max_made,
		       uint32_t *nmade);

#endif
