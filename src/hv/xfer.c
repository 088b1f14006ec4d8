/* SPDX-License-Identifier: MIT */
/*
 * hv/xfer.c - requests about frames changing hands: GNTTABOP_transfer and
 * XENMEM_exchange (the core does the work: core/transfer.c), and
 * GNT_MSG_FRAME, which hands a process the unit behind a gfn of its own
 * domain (a frame another process populated, or one a transfer brought).
 */
#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"
#include "core/transfer.h"

#define EXCHANGE_EXTENTS_MAX (1u << 20) /* as populate: what a payload carries */

void hv_transfer(struct gnt_domain *self, struct gnttab_transfer *ops, uint32_t n)
{
	/* A page its mapper has unmapped may only wait for the kernel's word
	 * (revoke.c): settle it now, so that only a page somebody really still
	 * holds is refused. */
	if (hv->revoke)
		for (uint32_t i = 0; i < n; i++) {
			struct gnt_unit *u = gnt_core_unit_of_gfn(self, ops[i].mfn, NULL);
			if (u && u->expos)
				hv_revoke_settle_unit(u);
		}
	gnt_core_transfer(hv->core, self, ops, n);
}

/* Request: struct xen_memory_exchange + in.nr_extents u64 gfns.  Reply: the
 * struct (nr_exchanged) + out.nr_extents u64 gfns (those of the extents done
 * by this call filled), and one read-write descriptor per unit made. */
int hv_exchange(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = gnt_core_domain(hv->core, c->domid);
	struct gnt_unit *made[GNT_EXCHANGE_UNITS_MAX];
	int fds[GNT_EXCHANGE_UNITS_MAX];
	struct xen_memory_exchange x;
	uint64_t *in, *out;
	uint32_t nmade = 0;
	size_t out_len;
	long rc;

	if (m->len < sizeof(x))
		return -EPROTO;
	memcpy(&x, pl, sizeof(x)); /* private copy: checked and used from here */
	if (x.in.nr_extents > EXCHANGE_EXTENTS_MAX ||
	    m->len != sizeof(x) + x.in.nr_extents * sizeof(uint64_t))
		return -EPROTO;
	if (x.out.nr_extents > EXCHANGE_EXTENTS_MAX)
		return hv_reply(c, m, -EINVAL, &x, sizeof(x), NULL, 0);
	out_len = sizeof(x) + x.out.nr_extents * sizeof(uint64_t);
	in = malloc(x.in.nr_extents * sizeof(uint64_t) + 1);
	out = calloc(1, out_len);
	if (!in || !out) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	memcpy(in, pl + sizeof(x), x.in.nr_extents * sizeof(uint64_t));
	rc = gnt_core_exchange(hv->core, self, &x, in, (uint64_t *)((uint8_t *)out + sizeof(x)),
			       made, GNT_EXCHANGE_UNITS_MAX, &nmade);
	memcpy(out, &x, sizeof(x));
	for (uint32_t i = 0; i < nmade; i++)
		fds[i] = hv_backing_fd(made[i]->backing, 1);
	rc = hv_reply(c, m, (int32_t)rc, out, (uint32_t)out_len, fds, nmade);
	free(in);
	free(out);
	return (int)rc;
}

int hv_frame(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = gnt_core_domain(hv->core, c->domid);
	struct gnt_frame f;
	struct gnt_unit *u;
	uint64_t gfn;
	int fd;

	if (m->len != sizeof(gfn))
		return -EPROTO;
	memcpy(&gfn, pl, sizeof(gfn));
	u = gnt_core_unit_of_gfn(self, gfn, NULL);
	if (!u)
		return hv_reply(c, m, -ENOENT, NULL, 0, NULL, 0);
	f.base_gfn = u->base_gfn;
	f.npages = u->npages;
	fd = hv_backing_fd(u->backing, 1);
	return hv_reply(c, m, 0, &f, sizeof(f), &fd, 1);
}
