/* SPDX-License-Identifier: MIT */
/*
 * lib/gntdev.c - Linux's gntdev and gntalloc for a gnt process (see
 * gnt/gntdev.h): mappings of other domains' grants and shares of our own
 * pages, each recorded with the process that made it, and released when
 * that process unmaps it, explicitly or by a plain munmap() that we notice
 * in /proc/self/maps (every mapping of a frame is a view of a gntd unit
 * memfd, "/memfd:gnt-unit", so a range with no such view left is gone).
 * gntd knows both as this process's (GNT_HC_OWNED maps, GNT_MSG_SHARE), so
 * they go when the process dies too; it also holds the domain's limits.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gnt/gntdev.h"

#define UNIT_MAPS_NAME "/memfd:gnt-unit"

enum kind { K_DEV, K_ALLOC };

struct rec {
	uintptr_t va;
	uint32_t n;         /* pages */
	pid_t pid;          /* the process that mapped it: only it releases it */
	enum kind kind;
	bool ro;
	uint32_t *ids;      /* K_DEV: maptrack handles; K_ALLOC: grant refs */
	uint64_t gfn;       /* K_ALLOC: the unit's first page, gntd's name for it */
	uint32_t nflags;    /* unmap notify: GNT_NOTIFY_*, 0 none */
	uint32_t noff;      /* its byte, as an offset into the range */
	uint32_t nport;
	uint8_t *alias;     /* K_ALLOC + CLEAR_BYTE: our own view of that page,
			     * so the byte can be cleared after a munmap */
};

static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static struct rec *recs;
static size_t nrecs, caprecs;

static size_t bytes(uint32_t pages)
{
	return (size_t)pages * GNT_PAGE_SIZE;
}

/* rlock held */
static int rec_add(const struct rec *r)
{
	if (nrecs == caprecs) {
		size_t cap = caprecs ? caprecs * 2 : 16;
		struct rec *n = realloc(recs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		recs = n;
		caprecs = cap;
	}
	recs[nrecs++] = *r;
	return 0;
}

/* rlock held: the record of ours (kind k) holding addr, or NULL */
static struct rec *rec_at(uintptr_t addr, enum kind k)
{
	pid_t me = gnt__pid();

	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].pid == me && recs[i].kind == k && addr >= recs[i].va &&
		    addr - recs[i].va < bytes(recs[i].n))
			return &recs[i];
	return NULL;
}

/* rlock held: r's resources are released; drop the record */
static void rec_del(struct rec *r)
{
	size_t i = (size_t)(r - recs);

	free(r->ids);
	recs[i] = recs[--nrecs];
}

static void release_dev(struct rec *r, bool gone)
{
	struct gnttab_unmap_grant_ref *ops = calloc(r->n, sizeof(*ops));

	if (!ops)
		return; /* the domain keeps them until it dies */
	for (uint32_t i = 0; i < r->n; i++)
		gnt_set_unmap_op(&ops[i], (void *)(r->va + bytes(i)), 0, r->ids[i]);
	/* gntd fires the notify (clear byte, event) as the handle goes */
	if (gone) {
		gnt__unmap_refs_gone(ops, r->n);
	} else {
		gnt_unmap_refs(ops, r->n);
		gnt_free_ballooned_pages((void *)r->va, r->n);
	}
	free(ops);
}

/* GNT_MSG_SHARE: op OWN (with refs) or END of the share at gfn. */
static int share_msg(uint32_t op, uint64_t gfn, uint32_t count, const uint32_t *refs)
{
	size_t len = sizeof(struct gnt_share) + (size_t)count * sizeof(*refs);
	uint8_t *buf = malloc(len);
	struct gnt_share h = {.op = op, .count = count, .gfn = gfn};
	int32_t rc;
	int err;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	if (count)
		memcpy(buf + sizeof(h), refs, (size_t)count * sizeof(*refs));
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (err == 0)
		err = gnt__rpc(GNT_MSG_SHARE, 0, 0, buf, (uint32_t)len, NULL, 0, NULL, 0, NULL,
			       NULL, NULL, &rc);
	pthread_mutex_unlock(&gnt__g.lock);
	free(buf);
	return err < 0 ? err : rc;
}

/* gntalloc's __del_gref order: byte, event, then end of access (gntd's
 * now: deferred while a peer maps the page, then the unit is freed) */
static void release_alloc(struct rec *r, bool gone)
{
	if (r->nflags) {
		gnt_grant_set_unmap_notify(r->ids[r->noff / GNT_PAGE_SIZE], 0, 0, 0);
		if (r->nflags & GNT_NOTIFY_CLEAR_BYTE)
			/* byte first, then the event that tells the peer to look */
			atomic_store_explicit((_Atomic uint8_t *)&r->alias[r->noff % GNT_PAGE_SIZE],
					      0, memory_order_release);
		if (r->nflags & GNT_NOTIFY_SEND_EVENT)
			gnt__evtchn_send(r->nport);
	}
	if (r->alias)
		munmap(r->alias, GNT_PAGE_SIZE);
	gnt__pages_forget((void *)r->va, !gone);
	share_msg(GNT_SHARE_END, r->gfn, 0, NULL);
}

/* rlock held */
static void release(struct rec *r, bool gone)
{
	if (r->kind == K_DEV)
		release_dev(r, gone);
	else
		release_alloc(r, gone);
	rec_del(r);
}

/* rlock held: mark which of our records still have a unit page mapped */
static int scan_maps(bool *alive, pid_t me)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned long lo, hi;
		int pathoff = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &pathoff) < 2 ||
		    !pathoff || strncmp(line + pathoff, UNIT_MAPS_NAME, strlen(UNIT_MAPS_NAME)))
			continue;
		for (size_t i = 0; i < nrecs; i++)
			if (recs[i].pid == me && lo < recs[i].va + bytes(recs[i].n) &&
			    hi > recs[i].va)
				alive[i] = true;
	}
	free(line);
	fclose(f);
	return 0;
}

/* rlock held */
static int reap(void)
{
	pid_t me = gnt__pid();
	bool *alive;
	int done = 0;
	size_t mine = 0;

	for (size_t i = 0; i < nrecs; i++)
		mine += recs[i].pid == me;
	if (!mine)
		return 0;
	alive = calloc(nrecs, sizeof(*alive));
	if (!alive)
		return -ENOMEM;
	if (scan_maps(alive, me) < 0) {
		free(alive);
		return 0;
	}
	/* backwards: rec_del moves the last record into the hole */
	for (size_t i = nrecs; i-- > 0;)
		if (recs[i].pid == me && !alive[i]) {
			release(&recs[i], true);
			done++;
		}
	free(alive);
	return done;
}

int gnt_gntdev_reap(void)
{
	int n;

	pthread_mutex_lock(&rlock);
	n = reap();
	pthread_mutex_unlock(&rlock);
	return n;
}

/* ---- gntdev ----------------------------------------------------------- */

/* Map the batch at va; on any failure nothing stays mapped (Linux's mmap). */
static int map_all(uintptr_t va, uint32_t count, const uint32_t *domids, const uint32_t *refs,
		   bool ro, uint32_t *handles, int16_t *status)
{
	struct gnttab_map_grant_ref *ops = calloc(count, sizeof(*ops));
	uint32_t flags = GNTMAP_host_map | (ro ? GNTMAP_readonly : 0);
	bool bad = false;
	int rc;

	if (!ops)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		gnt_set_map_op(&ops[i], (void *)(va + bytes(i)), flags, refs[i],
			       (domid_t)domids[i]);
	rc = gnt__map_refs_owned(ops, count);
	for (uint32_t i = 0; i < count && rc == 0; i++) {
		if (domids[i] > UINT16_MAX && ops[i].status == GNTST_okay) {
			struct gnttab_unmap_grant_ref u;
			gnt_set_unmap_op(&u, (void *)(uintptr_t)ops[i].host_addr, 0,
					 ops[i].handle);
			gnt_unmap_refs(&u, 1);
			ops[i].status = GNTST_bad_domain; /* it named a truncated domid */
		}
		if (status)
			status[i] = ops[i].status;
		handles[i] = ops[i].handle;
		bad |= ops[i].status != GNTST_okay;
	}
	if (rc == 0 && bad) {
		struct gnttab_unmap_grant_ref *u = (void *)ops; /* smaller: reuse */
		uint32_t nu = 0;
		for (uint32_t i = 0; i < count; i++)
			if (ops[i].status == GNTST_okay)
				gnt_set_unmap_op(&u[nu++], (void *)(va + bytes(i)), 0, handles[i]);
		if (nu)
			gnt_unmap_refs(u, nu);
		rc = -EINVAL;
	}
	free(ops);
	return rc;
}

void *gnt_gntdev_map(uint32_t count, const uint32_t *domids, const uint32_t *refs,
		     int writable, int16_t *status)
{
	struct rec r = {.n = count, .pid = gnt__pid(), .kind = K_DEV, .ro = !writable};
	void *va;
	int rc;

	pthread_mutex_lock(&rlock);
	reap();
	rc = -EINVAL; /* gntd holds the domain's limit: over it, EINVAL too */
	if (count == 0 || count > GNT_MAP_BATCH_MAX || !domids || !refs)
		goto err;
	rc = -ENOMEM;
	r.ids = malloc(count * sizeof(*r.ids));
	va = r.ids ? gnt_alloc_ballooned_pages(count) : NULL;
	if (!va)
		goto err_ids;
	r.va = (uintptr_t)va;
	rc = map_all(r.va, count, domids, refs, r.ro, r.ids, status);
	if (rc < 0)
		goto err_va;
	rc = rec_add(&r);
	if (rc < 0) {
		release_dev(&r, false);
		goto err_ids;
	}
	pthread_mutex_unlock(&rlock);
	return va;

err_va:
	gnt_free_ballooned_pages(va, count);
err_ids:
	free(r.ids);
err:
	pthread_mutex_unlock(&rlock);
	errno = -rc;
	return NULL;
}

int gnt_gntdev_unmap(void *addr, uint32_t count)
{
	struct rec *r;
	int rc = -EINVAL;

	pthread_mutex_lock(&rlock);
	reap();
	r = rec_at((uintptr_t)addr, K_DEV);
	if (r && r->va == (uintptr_t)addr && r->n == count) {
		release(r, false);
		rc = 0;
	}
	pthread_mutex_unlock(&rlock);
	return rc;
}

int gnt_gntdev_find(const void *addr, void **start, uint32_t *count)
{
	struct rec *r;
	int rc = -EINVAL;

	pthread_mutex_lock(&rlock);
	reap();
	r = rec_at((uintptr_t)addr, K_DEV);
	if (r) {
		*start = (void *)r->va;
		*count = r->n;
		rc = 0;
	}
	pthread_mutex_unlock(&rlock);
	return rc;
}

int gnt_gntdev_set_unmap_notify(void *addr, uint32_t flags, uint32_t port)
{
	struct rec *r;
	uint32_t off;
	int rc = -ENOENT;

	pthread_mutex_lock(&rlock);
	reap();
	r = rec_at((uintptr_t)addr, K_DEV);
	if (!r)
		goto out;
	off = (uint32_t)((uintptr_t)addr - r->va);
	rc = gnt_map_set_unmap_notify(r->ids[off / GNT_PAGE_SIZE], off % GNT_PAGE_SIZE, flags,
				      port);
	if (rc < 0)
		goto out;
	/* one per mapping: a notify left on another page's handle goes */
	if (r->nflags && r->noff / GNT_PAGE_SIZE != off / GNT_PAGE_SIZE)
		gnt_map_set_unmap_notify(r->ids[r->noff / GNT_PAGE_SIZE], 0, 0, 0);
	r->nflags = flags;
	r->noff = off;
	r->nport = port;
out:
	pthread_mutex_unlock(&rlock);
	return rc;
}

/* ---- limits: the domain's, held by gntd ---------------------------------- */

int gnt_gntdev_domain_limits(uint32_t domid, uint32_t set_alloc, uint32_t set_dev,
			     uint32_t *alloc, uint32_t *dev, uint32_t *alloc_in_use)
{
	struct gnt_gntdev_limits l = {
		.domid = domid, .alloc_limit = set_alloc, .dev_limit = set_dev,
		.set = (set_alloc ? GNT_LIMIT_SET_ALLOC : 0) | (set_dev ? GNT_LIMIT_SET_DEV : 0)};
	uint32_t got = 0;
	int32_t rc;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (err == 0)
		err = gnt__rpc(GNT_MSG_GNTDEV_LIMITS, 0, 0, &l, sizeof(l), NULL, 0, &l, sizeof(l),
			       &got, NULL, NULL, &rc);
	pthread_mutex_unlock(&gnt__g.lock);
	if (err == 0 && rc == 0 && got != sizeof(l))
		err = -EPROTO;
	if (err < 0 || rc < 0)
		return err < 0 ? err : rc;
	if (alloc)
		*alloc = l.alloc_limit;
	if (dev)
		*dev = l.dev_limit;
	if (alloc_in_use)
		*alloc_in_use = l.alloc_in_use;
	return 0;
}

static uint32_t limit_of(int which)
{
	uint32_t v[3] = {0, 0, 0};

	gnt_gntdev_domain_limits(GNT_DOMID_SELF, 0, 0, &v[0], &v[1], &v[2]);
	return v[which];
}

uint32_t gnt_gntdev_limit(void)
{
	return limit_of(1);
}

int gnt_gntdev_set_limit(uint32_t limit)
{
	if (limit == 0 || limit > GNT_MAP_BATCH_MAX)
		return -EINVAL;
	return gnt_gntdev_domain_limits(GNT_DOMID_SELF, 0, limit, NULL, NULL, NULL);
}

/* ---- gntalloc --------------------------------------------------------- */

/* Grant every page of the unit at va; on failure none stays granted. */
static int grant_all(uintptr_t va, uint32_t count, domid_t domid, bool ro, uint32_t *refs)
{
	for (uint32_t i = 0; i < count; i++) {
		int ref = gnt_grant_foreign_access(domid, gnt_virt_to_gfn((void *)(va + bytes(i))),
						   ro);
		if (ref < 0) {
			while (i-- > 0)
				gnt_end_foreign_access(refs[i], NULL); /* never mapped yet */
			return ref;
		}
		refs[i] = (uint32_t)ref;
	}
	return 0;
}

void *gnt_gntalloc_share(uint32_t domid, uint32_t count, uint32_t *refs, int writable)
{
	struct rec r = {.n = count, .pid = gnt__pid(), .kind = K_ALLOC};
	void *va = NULL;
	int rc;

	pthread_mutex_lock(&rlock);
	reap();
	rc = -EINVAL;
	if (count == 0 || !refs || domid > UINT16_MAX)
		goto err;
	rc = -ENOMEM;
	r.ids = malloc(count * sizeof(*r.ids));
	va = r.ids ? gnt_alloc_pages(count) : NULL;
	if (!va)
		goto err_ids;
	r.va = (uintptr_t)va;
	r.gfn = gnt_virt_to_gfn(va);
	rc = grant_all(r.va, count, (domid_t)domid, !writable, r.ids);
	if (rc < 0)
		goto err_pages;
	/* gntd counts it against the domain's limit (ENOSPC) and ends it
	 * when this process dies */
	rc = share_msg(GNT_SHARE_OWN, r.gfn, count, r.ids);
	if (rc < 0)
		goto err_grants;
	rc = rec_add(&r);
	if (rc < 0) {
		release_alloc(&r, false);
		goto err_ids;
	}
	memcpy(refs, r.ids, count * sizeof(*refs));
	pthread_mutex_unlock(&rlock);
	return va;

err_grants:
	for (uint32_t i = 0; i < count; i++)
		gnt_end_foreign_access(r.ids[i], NULL); /* nobody knows them yet */
err_pages:
	gnt_free_pages(va, count);
err_ids:
	free(r.ids);
err:
	pthread_mutex_unlock(&rlock);
	errno = -rc;
	return NULL;
}

int gnt_gntalloc_unshare(void *addr, uint32_t count)
{
	struct rec *r;
	int rc = 0;

	pthread_mutex_lock(&rlock);
	r = rec_at((uintptr_t)addr, K_ALLOC);
	if (r && r->va == (uintptr_t)addr && r->n == count)
		release(r, false);
	else if (munmap(addr, bytes(count)) < 0)
		rc = -errno;
	reap();
	pthread_mutex_unlock(&rlock);
	return rc;
}

int gnt_gntalloc_set_unmap_notify(void *addr, uint32_t flags, uint32_t port)
{
	struct rec *r;
	uint32_t off;
	uint8_t *alias = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&rlock);
	reap();
	r = rec_at((uintptr_t)addr, K_ALLOC);
	if (!r)
		goto out;
	off = (uint32_t)((uintptr_t)addr - r->va);
	rc = -ENOMEM;
	if (flags & GNT_NOTIFY_CLEAR_BYTE) {
		/* a second view of the same shared page (old size 0) */
		alias = mremap((void *)(r->va + off / GNT_PAGE_SIZE * GNT_PAGE_SIZE), 0,
			       GNT_PAGE_SIZE, MREMAP_MAYMOVE);
		if (alias == MAP_FAILED)
			goto out;
	}
	rc = gnt_grant_set_unmap_notify(r->ids[off / GNT_PAGE_SIZE], off % GNT_PAGE_SIZE, flags,
					port);
	if (rc < 0) {
		if (alias)
			munmap(alias, GNT_PAGE_SIZE);
		goto out;
	}
	if (r->nflags && r->noff / GNT_PAGE_SIZE != off / GNT_PAGE_SIZE)
		gnt_grant_set_unmap_notify(r->ids[r->noff / GNT_PAGE_SIZE], 0, 0, 0);
	if (r->alias)
		munmap(r->alias, GNT_PAGE_SIZE);
	r->alias = alias;
	r->nflags = flags;
	r->noff = off;
	r->nport = port;
out:
	pthread_mutex_unlock(&rlock);
	return rc;
}

uint32_t gnt_gntalloc_limit(void)
{
	return limit_of(0);
}

int gnt_gntalloc_set_limit(uint32_t limit)
{
	if (limit == 0)
		return -EINVAL;
	return gnt_gntdev_domain_limits(GNT_DOMID_SELF, limit, 0, NULL, NULL, NULL);
}

uint32_t gnt_gntalloc_in_use(void)
{
	pthread_mutex_lock(&rlock);
	reap(); /* what this process munmap'ed is not in use any more */
	pthread_mutex_unlock(&rlock);
	return limit_of(2);
}

/* ---- grant copy --------------------------------------------------------- */

#define COPY_BATCH 256u

/* A virt side goes through a bounce page of ours: GNTTABOP_copy names
 * frames, and a process's other memory is no frame. */
static void copy_side(struct gnttab_copy_ptr *p, const union gnt_gntdev_copy_ptr *s, bool gref,
		      uint64_t bounce_gfn)
{
	if (gref) {
		p->u.ref = s->foreign.ref;
		p->domid = s->foreign.domid;
		p->offset = s->foreign.offset;
	} else {
		p->u.gmfn = bounce_gfn;
		p->domid = DOMID_SELF;
		p->offset = 0;
	}
}

static int copy_batch(struct gnt_gntdev_copy_seg *segs, uint32_t n, uint8_t *bounce)
{
	struct gnttab_copy ops[COPY_BATCH];
	long rc;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t *b = bounce + bytes(i);
		uint64_t gfn = gnt_virt_to_gfn(b);

		ops[i] = (struct gnttab_copy){
			.len = segs[i].len,
			.flags = segs[i].flags & (GNTCOPY_source_gref | GNTCOPY_dest_gref)};
		copy_side(&ops[i].source, &segs[i].source, segs[i].flags & GNTCOPY_source_gref, gfn);
		copy_side(&ops[i].dest, &segs[i].dest, segs[i].flags & GNTCOPY_dest_gref, gfn);
		if (!(segs[i].flags & GNTCOPY_source_gref))
			memcpy(b, segs[i].source.virt, segs[i].len);
	}
	rc = gnt_grant_table_op(GNTTABOP_copy, ops, n);
	if (rc < 0)
		return (int)rc;
	for (uint32_t i = 0; i < n; i++) {
		segs[i].status = ops[i].status;
		if (ops[i].status == GNTST_okay && !(segs[i].flags & GNTCOPY_dest_gref))
			memcpy(segs[i].dest.virt, bounce + bytes(i), segs[i].len);
	}
	return 0;
}

static bool copy_seg_ok(const struct gnt_gntdev_copy_seg *s)
{
	uint32_t f = s->flags & (GNTCOPY_source_gref | GNTCOPY_dest_gref);

	if (!f)
		return false; /* local to local: Linux refuses the whole call */
	if ((f & GNTCOPY_source_gref) && s->source.foreign.offset + s->len > GNT_PAGE_SIZE)
		return false;
	if ((f & GNTCOPY_dest_gref) && s->dest.foreign.offset + s->len > GNT_PAGE_SIZE)
		return false;
	return true;
}

int gnt_gntdev_copy(uint32_t count, struct gnt_gntdev_copy_seg *segs)
{
	uint8_t *bounce;
	int rc = 0;

	for (uint32_t i = 0; i < count; i++)
		if (!copy_seg_ok(&segs[i]))
			return -EINVAL;
	if (!count)
		return 0;
	bounce = gnt_alloc_pages(count < COPY_BATCH ? count : COPY_BATCH);
	if (!bounce)
		return -errno;
	for (uint32_t i = 0; i < count && rc == 0; i += COPY_BATCH)
		rc = copy_batch(segs + i, count - i < COPY_BATCH ? count - i : COPY_BATCH, bounce);
	gnt_free_pages(bounce, count < COPY_BATCH ? count : COPY_BATCH);
	return rc;
}
