/* SPDX-License-Identifier: MIT */
/* common/evtchn_inbox.h - setting a port pending in an event channel inbox
 * (struct gnt_evtchn_inbox, common/proto.h), the one step gntd and every
 * sending process share. */
#ifndef GNT_EVTCHN_INBOX_H
#define GNT_EVTCHN_INBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "common/proto.h"

/* Set port p (< GNT_EVTCHN_NR_PORTS) pending in ib.  True when it was not
 * pending yet: the caller then rings the owner's bell.  When it was, a ring
 * is outstanding or the port is masked (unmask rings). */
static inline bool gnt__inbox_set(struct gnt_evtchn_inbox *ib, uint32_t p)
{
	uint64_t bit = 1ull << (p % 64);

	if (atomic_fetch_or_explicit(&ib->word[p / 64], bit, memory_order_relaxed) & bit)
		return false;
	/* release: the port's bit before the summary bit that leads to it */
	atomic_fetch_or_explicit(&ib->summary, 1ull << (p / 64), memory_order_release);
	return true;
}

/* Ring a bell: one byte on its pipe.  EAGAIN: full, it rings already. */
static inline void gnt__bell_ring(int fd)
{
	(void)!write(fd, "", 1);
}

#endif
