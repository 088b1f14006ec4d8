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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POPULATE_MIN_PAGES 16 /* prefault runs this long: faults cost more */

static int haddr_set(uint32_t h, uint64_t addr, uint64_t dev)
{
	if (h >= gnt__g.haddr_len) {
		uint32_t n = gnt__g.haddr_len ? gnt__g.haddr_len : 1024;
		uint64_t *p, *d;
		while (n <= h)
			n *= 2;
		p = realloc(gnt__g.haddr, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		gnt__g.haddr = p;
		d = realloc(gnt__g.hdev, n * sizeof(*d));
		if (!d)
			return -ENOMEM;
		gnt__g.hdev = d;
		memset(p + gnt__g.haddr_len, 0, (n - gnt__g.haddr_len) * sizeof(*p));
		memset(d + gnt__g.haddr_len, 0, (n - gnt__g.haddr_len) * sizeof(*d));
		gnt__g.haddr_len = n;
	}
	gnt__g.haddr[h] = addr;
	gnt__g.hdev[h] = dev;
	return 0;
}

static uint64_t haddr_get(uint32_t h)
{
	return h < gnt__g.haddr_len ? gnt__g.haddr[h] : 0;
}

/* Our mapping for this unmap op, if gntd will accept the op (its host_addr
 * and dev_bus_addr, when given, are the mapping's); else 0, and the mapping
 * must stay: a refused unmap changes nothing. */
static uint64_t unmap_addr(const struct gnttab_unmap_grant_ref *op)
{
	uint64_t a = haddr_get(op->handle);

	if (!a || (op->host_addr && op->host_addr != a) ||
	    (op->dev_bus_addr && op->dev_bus_addr != gnt__g.hdev[op->handle]))
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

		if (ops[i].status != GNTST_okay || fdi < 0 || (uint32_t)fdi >= nfds) {
			i++;
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
		for (uint32_t k = i; k < j; k++) {
			if (p != MAP_FAILED &&
			    haddr_set(ops[k].handle, ops[k].host_addr, ops[k].dev_bus_addr) == 0)
				continue;
			/* could not place it: give the mapping back */
			struct gnttab_unmap_grant_ref u = {.handle = ops[k].handle};
			raw_unmap(&u, 1);
			ops[k].status = GNTST_bad_virt_addr;
			ops[k].handle = INVALID_GRANT_HANDLE;
		}
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
	for (uint32_t i = 0; i < n; i++)
		if (ops[i].status == GNTST_okay && ops[i].handle < gnt__g.haddr_len)
			gnt__g.haddr[ops[i].handle] = 0;
	return 0;
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
	case GNTTABOP_query_size:
		rc = count != 1 ? -EINVAL : simple_op(cmd, args, 1, sizeof(struct gnttab_query_size));
		break;
	case GNTTABOP_set_version:
		rc = count != 1 ? -EINVAL : simple_op(cmd, args, 1, sizeof(struct gnttab_set_version));
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
