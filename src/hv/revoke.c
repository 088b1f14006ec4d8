/* SPDX-License-Identifier: MIT */
/*
 * hv/revoke.c - the kernel's word on when a mapper has let go of a unit.
 *
 * Linux cannot remove another process's mapping, so gntd does not take the
 * mapper's word for it.  Every exposure of a unit gets a kernel file of its
 * own (an O_RDWR or O_RDONLY re-open of the unit's memfd); only that file's
 * descriptors go to the mapper.  A file is released by the kernel only when
 * no descriptor and no mapping refers to it any more, and fanotify reports
 * that release (FAN_CLOSE_WRITE / FAN_CLOSE_NOWRITE on the unit's inode,
 * with the pid that dropped the last reference).
 *
 * When an exposure's last handle is unmapped it is *parked*: its pins stay
 * (GTF_reading/GTF_writing stay set) and a new map by the same mapper simply
 * revives it.  gntd settles parked exposures after SETTLE_DELAY, when the
 * mapper domain dies, or at once when the granter finds a grant busy
 * (GNT_MSG_SETTLE, sent by libgnt's end of access).  Settling closes gntd's
 * own descriptor: if the kernel then reports the release with gntd's pid, the
 * mapper had let go and the exposure is released.  Otherwise it *lingers*,
 * pinned, until the kernel reports the file released by whoever kept it.
 *
 * Attribution of a later release: the unit's memfd is root-owned, mode 0600,
 * and domains run under other uids, so no domain can open it anew; every
 * release event on a unit therefore belongs to a lingering exposure file of
 * that unit and access.  With one candidate it is that one; with several,
 * releases are counted and all are released once every candidate's file has
 * been reported released.  Over-pinning is possible, under-pinning is not.
 */
#define _GNU_SOURCE
#include "backing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"

#define SETTLE_DELAY_NS 2000000u /* park 2 ms: map/unmap loops reuse the file */
#define HBUCKETS 4096u

struct hv_efile {
	int fd;                    /* gntd's reference; -1 once settled */
	bool verifiable;           /* the unit is watched */
	struct gnt_expo *x;
	struct hv_backing *b;
	struct hv_efile *bnext;    /* the unit's exposure files */
	struct hv_efile *pprev, *pnext; /* parked, in due order */
	bool parked;
	uint64_t due_ns;
};

static int fan = -1;
static pid_t self_pid;
static struct hv_backing *htab[HBUCKETS];
static struct hv_efile *phead, *ptail;
static struct hv_efile *expect;   /* being settled: its own release expected */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t hkey(int type, const uint8_t *h, uint32_t len)
{
	uint64_t k = 1469598103934665603ull ^ (uint32_t)type;
	for (uint32_t i = 0; i < len; i++)
		k = (k ^ h[i]) * 1099511628211ull;
	return k;
}

int hv_revoke_init(void)
{
	self_pid = getpid();
	fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC | FAN_UNLIMITED_MARKS |
				    FAN_UNLIMITED_QUEUE | FAN_REPORT_FID,
			    O_RDONLY | O_CLOEXEC);
	return fan < 0 ? -errno : 0;
}

int hv_revoke_fd(void)
{
	return fan;
}

void hv_revoke_watch(struct hv_backing *b)
{
	struct {
		struct file_handle fh;
		uint8_t bytes[64];
	} h;
	int mnt;

	if (fan < 0)
		return;
	h.fh.handle_bytes = sizeof(h.bytes);
	if (name_to_handle_at(b->fd, "", &h.fh, &mnt, AT_EMPTY_PATH) < 0 ||
	    h.fh.handle_bytes > sizeof(b->handle) ||
	    fanotify_mark(fan, FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE, b->fd, NULL) < 0) {
		hv_log("revocation check unavailable for a unit: %s", strerror(errno));
		return; /* its exposures are released without the kernel's word */
	}
	memcpy(b->handle, h.fh.f_handle, h.fh.handle_bytes);
	b->handle_len = h.fh.handle_bytes;
	b->handle_type = h.fh.handle_type;
	b->hkey = hkey(b->handle_type, b->handle, b->handle_len);
	b->hnext = htab[b->hkey % HBUCKETS];
	htab[b->hkey % HBUCKETS] = b;
	b->watched = true;
}

void hv_revoke_unwatch(struct hv_backing *b)
{
	struct hv_backing **pp;

	if (!b->watched)
		return;
	for (pp = &htab[b->hkey % HBUCKETS]; *pp != b; pp = &(*pp)->hnext)
		;
	*pp = b->hnext;
	b->watched = false;
}

static struct hv_backing *lookup(int type, const uint8_t *h, uint32_t len)
{
	uint64_t k = hkey(type, h, len);
	for (struct hv_backing *b = htab[k % HBUCKETS]; b; b = b->hnext)
		if (b->hkey == k && b->handle_type == type && b->handle_len == len &&
		    !memcmp(b->handle, h, len))
			return b;
	return NULL;
}

static void park_unlink(struct hv_efile *e)
{
	if (!e->parked)
		return;
	if (e->pprev)
		e->pprev->pnext = e->pnext;
	else
		phead = e->pnext;
	if (e->pnext)
		e->pnext->pprev = e->pprev;
	else
		ptail = e->pprev;
	e->pprev = e->pnext = NULL;
	e->parked = false;
}

int hv_revoke_expo_open(void *ctx, struct gnt_expo *x, struct gnt_unit *u)
{
	struct hv_backing *b = u->backing;
	struct hv_efile *e;
	char path[64];
	int err;
	(void)ctx;

	/* gntd's reference to the file counts against the mapper's share */
	if ((err = hv_budget_charge(x->mapper, 1)) < 0)
		return err;
	e = calloc(1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto err_uncharge;
	}
	/* a file of its own: its release is this exposure's, nobody else's */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	e->fd = open(path, (x->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (e->fd < 0) {
		err = -errno;
		goto err_free;
	}
	e->verifiable = b->watched;
	e->x = x;
	e->b = b;
	e->bnext = b->efiles;
	b->efiles = e;
	x->file = e;
	return 0;

err_free:
	free(e);
err_uncharge:
	hv_budget_uncharge(x->mapper, 1);
	return err;
}

/* Drop gntd's reference to e's file (and the mapper's charge for it). */
static void efile_close(struct hv_efile *e)
{
	close(e->fd);
	e->fd = -1;
	hv_budget_uncharge(e->x->mapper, 1);
}

void hv_revoke_expo_parked(void *ctx, struct gnt_expo *x)
{
	struct hv_efile *e = x->file;
	(void)ctx;

	park_unlink(e);
	e->due_ns = now_ns() + SETTLE_DELAY_NS;
	e->pprev = ptail;
	if (ptail)
		ptail->pnext = e;
	else
		phead = e;
	ptail = e;
	e->parked = true;
}

void hv_revoke_expo_free(void *ctx, struct gnt_expo *x)
{
	struct hv_efile *e = x->file, **pp;
	(void)ctx;

	if (!e)
		return;
	park_unlink(e);
	for (pp = &e->b->efiles; *pp != e; pp = &(*pp)->bnext)
		;
	*pp = e->bnext;
	if (e->fd >= 0)
		efile_close(e);
	if (expect == e)
		expect = NULL;
	x->file = NULL;
	free(e);
}

int hv_revoke_expo_fd(struct gnt_expo *x)
{
	struct hv_efile *e = x->file;
	return e && e->fd >= 0 ? e->fd : -EBADF;
}

/* A release of a file of unit b with access `wr`, by pid. */
static void released(struct hv_backing *b, bool wr, int32_t pid)
{
	struct hv_efile *cand[64], *e;
	uint32_t n = 0, total = 0;

	if (pid == self_pid) {
		/* our own close was the last reference: the one being settled */
		if (expect && expect->b == b && expect->x->writable == wr) {
			e = expect;
			expect = NULL;
			gnt_core_expo_settle(hv->core, e->x);
		}
		return; /* or a unit of ours going away */
	}
	for (e = b->efiles; e; e = e->bnext)
		if (e->fd < 0 && e->x->writable == wr && e->x->state == GNT_EXPO_LINGER) {
			if (n < 64)
				cand[n++] = e;
			total++;
		}
	if (!total)
		return;
	if (total > 1 && ++b->orphans[wr] < total)
		return; /* not every candidate's file is gone yet */
	b->orphans[wr] = 0;
	hv_log("a mapper let go of a unit at last (pid %d): %u exposure(s) released",
	       (int)pid, n);
	/* each may free b's last exposure and then b: b is not used after */
	for (uint32_t i = 0; i < n; i++)
		gnt_core_expo_settle(hv->core, cand[i]->x);
}

void hv_revoke_events(void)
{
	char buf[16384] __attribute__((aligned(8)));
	ssize_t len;

	if (fan < 0)
		return;
	while ((len = read(fan, buf, sizeof(buf))) > 0) {
		struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			struct fanotify_event_info_fid *fid = (void *)(m + 1);
			struct file_handle *fh;
			struct hv_backing *b;

			if (m->fd >= 0)
				close(m->fd);
			if (m->mask & FAN_Q_OVERFLOW) {
				hv_log("fanotify queue overflow: lingering exposures stay pinned");
				continue;
			}
			if (m->event_len < sizeof(*m) + sizeof(*fid) ||
			    fid->hdr.info_type != FAN_EVENT_INFO_TYPE_FID)
				continue;
			fh = (struct file_handle *)(void *)fid->handle;
			b = lookup(fh->handle_type, fh->f_handle, fh->handle_bytes);
			if (b)
				released(b, m->mask & FAN_CLOSE_WRITE, m->pid);
		}
	}
}

/* Close gntd's reference and see whether the kernel releases the file. */
static void settle(struct hv_efile *e)
{
	struct gnt_expo *x = e->x;

	park_unlink(e);
	if (x->state != GNT_EXPO_PARKED)
		return; /* revived meanwhile */
	if (!e->verifiable) {
		gnt_core_expo_settle(hv->core, x);
		return;
	}
	/* lingering first: if the mapper lets go right now, the release is
	 * counted for this file */
	gnt_core_expo_linger(hv->core, x);
	expect = e;
	efile_close(e);
	hv_revoke_events(); /* the release, if ours was the last reference */
	if (expect == e) {
		expect = NULL;
		hv_log("d%u still holds a unit it unmapped: its grants stay pinned", x->mapper);
	}
}

int hv_revoke_settle_due(void)
{
	uint64_t now;

	if (!phead)
		return -1;
	now = now_ns();
	while (phead && phead->due_ns <= now)
		settle(phead);
	return phead ? (int)((phead->due_ns - now) / 1000000u) + 1 : -1;
}

static void settle_matching(struct gnt_unit *u, int mapper)
{
	struct hv_efile *batch[256];
	uint32_t n;

	do {
		n = 0;
		for (struct hv_efile *e = phead; e && n < 256; e = e->pnext)
			if ((!u || e->x->unit == u->id) && (mapper < 0 || e->x->mapper == mapper))
				batch[n++] = e;
		for (uint32_t i = 0; i < n; i++)
			settle(batch[i]); /* parked ones only: each unlinks itself */
	} while (n == 256);
}

void hv_revoke_settle_unit(struct gnt_unit *u)
{
	settle_matching(u, -1);
}

void hv_revoke_settle_mapper(uint16_t domid)
{
	settle_matching(NULL, domid);
}

void hv_revoke_settle_all(void)
{
	settle_matching(NULL, -1);
}
