/* SPDX-License-Identifier: MIT */
/*
 * lib/map.c - GNTTABOP_* from the mapping side.  gntd answers a map batch
 * with, per op, the unit descriptor and page that hold the frame; we mmap
 * runs of consecutive pages with one call each and close the descriptors at
 * once (the mapping keeps the frame; nothing lets us map it again).
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POPULATE_MIN_PAGES 16 /* prefault runs this long: faults cost more */

/* Our mapping for this unmap op, if gntd will accept the op (its host_addr
 * and dev_bus_addr, when given, are the mapping's); else 0, and the mapping
 * must stay: a refused unmap changes nothing. */
static uint64_t unmap_addr(const struct gnttab_unmap_grant_ref *op)
{
	uint64_t dev = 0, a = gnt__ftab_addr(op->handle, &dev);

	if (!a || (op->host_addr && op->host_addr != a) ||
	    (op->dev_bus_addr && op->dev_bus_addr != dev))
		return 0;
	return a;
}

static void reserve(uint64_t addr, size_t pages)
{
	/* the pages go; the address range stays ours (a ballooned page) */
	mmap((void *)(uintptr_t)addr, pages * GNT_PAGE_SIZE, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
}

static int raw_unmap(struct gnttab_unmap_grant_ref *ops, uint32_t n)
{
	int32_t rc;
	int err = gnt__rpc(GNT_MSG_HYPERCALL,
			   GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref), n,
			   ops, n * (uint32_t)sizeof(*ops), NULL, 0, ops,
			   n * (uint32_t)sizeof(*ops), NULL, NULL, NULL, &rc);
	return err < 0 ? err : rc;
}

/* Give back the mappings gntd made for the okay ops among ops[0..n), with
 * one unmap hypercall; each of them fails with `status`.  placed: ops are
 * one run mapped at ops[0].host_addr, which goes back to a reservation. */
static void give_back(struct gnttab_map_grant_ref *ops, uint32_t n, bool placed, int16_t status)
{
	struct gnttab_unmap_grant_ref *u = calloc(n, sizeof(*u));
	uint32_t k = 0;

	if (placed)
		reserve(ops[0].host_addr, n);
	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].status != GNTST_okay)
			continue;
		if (u) {
			u[k++].handle = ops[i].handle;
		} else { /* no memory for a batch: one at a time */
			struct gnttab_unmap_grant_ref one = {.handle = ops[i].handle};
			raw_unmap(&one, 1);
		}
		ops[i].status = status;
		ops[i].handle = INVALID_GRANT_HANDLE;
	}
	if (k)
		raw_unmap(u, k);
	free(u);
}

/* lock held.  aux: GNT_HC_OWNED for gntdev's mappings (gntd unmaps them
 * when this process's connection closes), else 0. */
static int do_map(struct gnttab_map_grant_ref *ops, uint32_t n, uint32_t aux)
{
	struct gnt_msg m = {.op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref),
			    .count = n, .len = n * (uint32_t)sizeof(*ops), .aux = aux};
	size_t rlen = (size_t)n * (sizeof(*ops) + sizeof(struct gnt_map_loc));
	uint8_t *reply = malloc(rlen);
	struct gnt_map_loc *loc;
	int *fds;
	uint32_t nfds = GNT_MSG_MAX_FDS * 16, got;
	int32_t rc;
	int err;

	fds = malloc(nfds * sizeof(int));
	if (!reply || !fds) {
		free(reply);
		free(fds);
		return -ENOMEM;
	}
	err = gnt__rpc_msg(&m, ops, NULL, reply, (uint32_t)rlen, &got, fds, &nfds, NULL, &rc);
	if (err == -EMFILE && rc >= 0 && got == rlen) {
		/* mapped in gntd, but we may hold no more descriptors: a
		 * mapping we cannot see must not stay (as Xen's no_space for
		 * a full maptrack, the op fails and holds nothing) */
		memcpy(ops, reply, (size_t)n * sizeof(*ops));
		give_back(ops, n, false, GNTST_no_space);
		free(reply);
		free(fds);
		return 0;
	}
	if (err < 0 || rc < 0 || got != rlen) {
		free(reply);
		free(fds);
		return err < 0 ? err : (rc < 0 ? rc : -EPROTO);
	}
	memcpy(ops, reply, (size_t)n * sizeof(*ops));
	loc = (void *)(reply + (size_t)n * sizeof(*ops));
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		int fdi = loc[i].fd_index;
		bool ro = ops[i].flags & GNTMAP_readonly;
		void *p;

		if (ops[i].status != GNTST_okay) {
			i++;
			continue;
		}
		if (fdi < 0 || (uint32_t)fdi >= nfds) {
			give_back(&ops[i++], 1, false, GNTST_general_error); /* cannot be */
			continue;
		}
		while (j < n && ops[j].status == GNTST_okay && loc[j].fd_index == fdi &&
		       loc[j].page == loc[i].page + (j - i) &&
		       ops[j].host_addr == ops[i].host_addr + (uint64_t)(j - i) * GNT_PAGE_SIZE)
			j++;
		p = MAP_FAILED;
		if (ops[i].host_addr && ops[i].host_addr % GNT_PAGE_SIZE == 0)
			p = mmap((void *)(uintptr_t)ops[i].host_addr,
				 (size_t)(j - i) * GNT_PAGE_SIZE,
				 ro ? PROT_READ : PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED |
					 (j - i >= POPULATE_MIN_PAGES ? MAP_POPULATE : 0),
				 fds[fdi], (off_t)loc[i].page * GNT_PAGE_SIZE);
		if (p == MAP_FAILED || gnt__ftab_add(&ops[i], j - i) < 0)
			give_back(&ops[i], j - i, p != MAP_FAILED, GNTST_bad_virt_addr);
		i = j;
	}
	for (uint32_t i = 0; i < nfds; i++)
		close(fds[i]);
	free(reply);
	free(fds);
	return 0;
}

/* lock held.  local: our mappings are still there and go first. */
static int do_unmap(struct gnttab_unmap_grant_ref *ops, uint32_t n, bool local)
{
	/* our own mappings go first: once gntd drops the pin, no access is left */
	for (uint32_t i = 0; local && i < n;) {
		uint64_t a = unmap_addr(&ops[i]);
		uint32_t j = i + 1;
		if (!a) {
			i++;
			continue;
		}
		while (j < n && unmap_addr(&ops[j]) == a + (uint64_t)(j - i) * GNT_PAGE_SIZE)
			j++;
		reserve(a, j - i);
		i = j;
	}
	int err = raw_unmap(ops, n);
	if (err < 0)
		return err;
	gnt__ftab_del(ops, n);
	return 0;
}

/* Has gntd closed our connection?  It never writes unasked, so anything to
 * read (EOF) means it has (lock held). */
static bool conn_lost(void)
{
	struct pollfd p = {.fd = gnt__g.fd, .events = POLLIN | POLLRDHUP};

	return poll(&p, 1, 0) != 0;
}

int gnt__unmap_idle(struct gnttab_unmap_grant_ref *ops, void *const *pages, uint32_t n,
		    bool retry)
{
	int err;

	if (n > GNT_MAP_BATCH_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&gnt__g.lock);
	if (retry && (gnt__g.fd < 0 || gnt__g.pid != gnt__pid() || conn_lost()))
		err = -ESHUTDOWN;
	else
		err = gnt__ensure();
	if (err == 0)
		err = gnt__ftab_claim_idle(ops, pages, n);
	if (err == 0) {
		err = do_unmap(ops, n, true);
		if (err < 0)
			gnt__ftab_unclaim(ops, n);
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return err;
}

static long simple_op(unsigned int cmd, void *args, uint32_t count, size_t esz)
{
	int32_t rc;
	int err;

	if (count == 0 || count > GNT_MAP_BATCH_MAX)
		return count ? -EINVAL : 0;
	err = gnt__rpc(GNT_MSG_HYPERCALL, GNT_HC(__HYPERVISOR_grant_table_op, cmd), count,
		       args, (uint32_t)(count * esz), NULL, 0, args, (uint32_t)(count * esz),
		       NULL, NULL, NULL, &rc);
	return err < 0 ? err : rc;
}

/* get_status_frames: frame numbers to op->frame_list; our own domain's
 * status frames, which come along, are mapped (read-only) if not yet. */
static long status_frames_op(struct gnttab_get_status_frames *op)
{
	size_t cap = sizeof(*op) + 512 * sizeof(uint64_t);
	uint64_t *list = op->frame_list;
	uint32_t got = 0, nfds = 1;
	uint8_t *buf = malloc(cap);
	int32_t r;
	long rc;
	int fd = -1;

	if (!buf)
		return -ENOMEM;
	rc = gnt__rpc(GNT_MSG_HYPERCALL,
		      GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_get_status_frames), 1, op,
		      sizeof(*op), NULL, 0, buf, (uint32_t)cap, &got, &fd, &nfds, &r);
	if (rc == 0 && got >= sizeof(*op)) {
		memcpy(op, buf, sizeof(*op));
		op->frame_list = list;
		if (op->status == GNTST_okay && list)
			memcpy(list, buf + sizeof(*op), got - sizeof(*op));
		rc = r;
	} else if (rc == 0) {
		rc = -EPROTO;
	}
	if (nfds == 1 && (op->dom == DOMID_SELF || op->dom == gnt__g.domid))
		gnt__status_map_and_close(fd);
	else if (nfds == 1)
		close(fd);
	free(buf);
	return rc;
}

long gnt_grant_table_op(unsigned int cmd, void *args, unsigned int count)
{
	long rc;

	pthread_mutex_lock(&gnt__g.lock);
	rc = gnt__ensure();
	if (rc < 0)
		goto out;
	switch (cmd) {
	case GNTTABOP_map_grant_ref:
		if (count == 0 || count > GNT_MAP_BATCH_MAX)
			rc = count ? -EINVAL : 0;
		else
			rc = do_map(args, count, 0);
		break;
	case GNTTABOP_unmap_grant_ref:
		if (count == 0 || count > GNT_MAP_BATCH_MAX)
			rc = count ? -EINVAL : 0;
		else
			rc = do_unmap(args, count, true);
		break;
	case GNTTABOP_copy:
		rc = simple_op(cmd, args, count, sizeof(struct gnttab_copy));
		break;
	case GNTTABOP_transfer:
		rc = simple_op(cmd, args, count, sizeof(struct gnttab_transfer));
		/* the page is gone unless bad_page (Xen): so is our mapping */
		for (unsigned int i = 0; rc == 0 && i < count; i++)
			if (((struct gnttab_transfer *)args)[i].status != GNTST_bad_page)
				gnt__page_forget(((struct gnttab_transfer *)args)[i].mfn, 1);
		break;
	case GNTTABOP_query_size:
		rc = count != 1 ? -EINVAL : simple_op(cmd, args, 1, sizeof(struct gnttab_query_size));
		break;
	case GNTTABOP_swap_grant_ref:
		rc = simple_op(cmd, args, count, sizeof(struct gnttab_swap_grant_ref));
		break;
	case GNTTABOP_set_version: {
		struct gnttab_set_version *op = args;
		rc = count != 1 ? -EINVAL : gnt__set_version(op->version, &op->version);
		break;
	}
	case GNTTABOP_get_status_frames:
		rc = count != 1 ? -EINVAL : status_frames_op(args);
		break;
	case GNTTABOP_get_version:
		rc = count != 1 ? -EINVAL : simple_op(cmd, args, 1, sizeof(struct gnttab_get_version));
		break;
	case GNTTABOP_setup_table: {
		struct gnttab_setup_table *op = args;
		uint64_t *frames;
		int32_t r;
		uint32_t got;
		if (count != 1) {
			rc = -EINVAL;
			break;
		}
		frames = malloc(sizeof(*op) + 4096 * sizeof(uint64_t));
		if (!frames) {
			rc = -ENOMEM;
			break;
		}
		rc = gnt__rpc(GNT_MSG_HYPERCALL, GNT_HC(__HYPERVISOR_grant_table_op, cmd), 1, op,
			      sizeof(*op), NULL, 0, frames, sizeof(*op) + 4096 * 8, &got, NULL,
			      NULL, &r);
		if (rc == 0 && got >= sizeof(*op)) {
			xen_pfn_t *list = op->frame_list;
			memcpy(op, frames, sizeof(*op));
			op->frame_list = list;
			if (op->status == GNTST_okay) {
				if (list)
					memcpy(list, (char *)frames + sizeof(*op), got - sizeof(*op));
				if (op->dom == DOMID_SELF || op->dom == gnt__g.domid)
					if (op->nr_frames > gnt__g.nr_frames)
						gnt__g.nr_frames = op->nr_frames;
			}
			rc = r;
		}
		free(frames);
		break;
	}
	default:
		rc = -ENOSYS;
	}
out:
	pthread_mutex_unlock(&gnt__g.lock);
	return rc;
}

static long map_once(struct gnttab_map_grant_ref *ops, unsigned int count, uint32_t aux)
{
	long rc;

	if (!aux)
		return gnt_grant_table_op(GNTTABOP_map_grant_ref, ops, count);
	if (count == 0 || count > GNT_MAP_BATCH_MAX)
		return count ? -EINVAL : 0;
	pthread_mutex_lock(&gnt__g.lock);
	rc = gnt__ensure();
	if (rc == 0)
		rc = do_map(ops, count, aux);
	pthread_mutex_unlock(&gnt__g.lock);
	return rc;
}

static int map_refs(struct gnttab_map_grant_ref *ops, unsigned int count, uint32_t aux)
{
	long rc = map_once(ops, count, aux);

	/* GNTST_eagain: retry just those, as Linux's gnttab_retry_eagain_gop */
	for (int tries = 0; rc == 0 && tries < 64; tries++) {
		unsigned int n = 0;
		struct gnttab_map_grant_ref *again;
		for (unsigned int i = 0; i < count; i++)
			n += ops[i].status == GNTST_eagain;
		if (!n)
			break;
		again = malloc(n * sizeof(*again));
		if (!again)
			return -ENOMEM;
		n = 0;
		for (unsigned int i = 0; i < count; i++)
			if (ops[i].status == GNTST_eagain)
				again[n++] = ops[i];
		rc = map_once(again, n, aux);
		n = 0;
		for (unsigned int i = 0; i < count; i++)
			if (ops[i].status == GNTST_eagain)
				ops[i] = again[n++];
		free(again);
	}
	return (int)rc;
}

int gnt_map_refs(struct gnttab_map_grant_ref *ops, unsigned int count)
{
	return map_refs(ops, count, 0);
}

int gnt__map_refs_owned(struct gnttab_map_grant_ref *ops, unsigned int count)
{
	return map_refs(ops, count, GNT_HC_OWNED);
}

int gnt_unmap_refs(struct gnttab_unmap_grant_ref *ops, unsigned int count)
{
	return (int)gnt_grant_table_op(GNTTABOP_unmap_grant_ref, ops, count);
}

int gnt__unmap_refs_gone(struct gnttab_unmap_grant_ref *ops, unsigned int count)
{
	int rc;

	if (count == 0 || count > GNT_MAP_BATCH_MAX)
		return count ? -EINVAL : 0;
	pthread_mutex_lock(&gnt__g.lock);
	rc = gnt__ensure();
	if (rc == 0)
		rc = do_unmap(ops, count, false);
	pthread_mutex_unlock(&gnt__g.lock);
	return rc;
}

int gnt__unmap_notify(uint32_t kind, uint32_t id, uint32_t offset, uint32_t flags,
		      evtchn_port_t port)
{
	struct gnt_unmap_notify rq = {.kind = kind, .id = id, .offset = offset,
				      .flags = flags, .port = port};
	int32_t rc;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (err == 0)
		err = gnt__rpc(GNT_MSG_UNMAP_NOTIFY, 0, 0, &rq, sizeof(rq), NULL, 0, NULL, 0,
			       NULL, NULL, NULL, &rc);
	pthread_mutex_unlock(&gnt__g.lock);
	return err < 0 ? err : rc;
}

int gnt_map_set_unmap_notify(grant_handle_t handle, uint32_t offset, uint32_t flags,
			     evtchn_port_t port)
{
	return gnt__unmap_notify(GNT_UNMAP_NOTIFY_MAPPING, handle, offset, flags, port);
}
