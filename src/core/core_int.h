/* SPDX-License-Identifier: MIT */
/*
 * core/core_int.h - core internals shared between core.c and transfer.c:
 * units and the p2m, for the operations that move frames between domains.
 */
#ifndef GNT_CORE_INT_H
#define GNT_CORE_INT_H

#include "core.h"

/* A new unit owned by `owner`, refs 1, in no p2m and charged to nobody. */
struct gnt_unit *gnt__unit_new(struct gnt_core *c, uint16_t owner, uint32_t npages);
/* Drop a reference; the last one uncharges the owner and frees the unit. */
void gnt__unit_put(struct gnt_core *c, struct gnt_unit *u);
/* Free a unit charged to nobody and held by nothing else. */
void gnt__unit_discard(struct gnt_core *c, struct gnt_unit *u);
/* Append u (its base_gfn above every other) to d's p2m. */
int gnt__p2m_insert(struct gnt_domain *d, struct gnt_unit *u);
/* Index in d's p2m of the unit holding gfn, or -1. */
int64_t gnt__p2m_index(const struct gnt_domain *d, uint64_t gfn);
/* Take d->p2m[i] out of d's memory and drop the p2m's reference. */
void gnt__p2m_remove(struct gnt_core *c, struct gnt_domain *d, uint32_t i);

#endif
