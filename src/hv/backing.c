/* SPDX-License-Identifier: MIT */
/*
 * hv/backing.c - every unit is one memfd.  It is sealed against shrink and
 * grow before any domain sees it (no peer can SIGBUS another by truncating),
 * and chmod 0600 so that a process running under another uid cannot re-open
 * a read-only descriptor for writing through /proc/self/fd.
 */
#define _GNU_SOURCE
#include "backing.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int hv_memfd(const char *name, uint64_t npages)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int err;

	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)(npages * GNT_PAGE_SIZE)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int unit_alloc(void *ctx, uint16_t owner, uint32_t npages, void **out)
{
	struct hv_backing *b;
	int err = hv_budget_charge(owner, 1);
	(void)ctx;

	if (err < 0)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto err_uncharge;
	}
	b->fd = hv_memfd("gnt-unit", npages);
	if (b->fd < 0) {
		err = b->fd;
		goto err_free;
	}
	b->ro_fd = -1;
	b->npages = npages;
	b->charged = true;
	b->owner = owner;
	*out = b;
	return 0;

err_free:
	free(b);
err_uncharge:
	hv_budget_uncharge(owner, 1);
	return err;
}

static int unit_alloc_watched(void *ctx, uint16_t owner, uint32_t npages, void **out)
{
	int rc = unit_alloc(ctx, owner, npages, out);
	if (rc == 0)
		hv_revoke_watch(*out);
	return rc;
}

/* The descriptors gntd holds for a unit: its memfd, and its read-only
 * re-open once there is one. */
static uint32_t unit_fds(const struct hv_backing *b)
{
	return 1u + (b->ro_fd >= 0);
}

static void unit_free(void *ctx, void *p)
{
	struct hv_backing *b = p;
	(void)ctx;
	hv_revoke_unwatch(b);
	if (b->charged)
		hv_budget_uncharge(b->owner, unit_fds(b));
	close(b->fd);
	if (b->ro_fd >= 0)
		close(b->ro_fd);
	free(b);
}

/* A transfer gave the unit to another domain: so are its descriptors, which
 * it holds now (already open: past the new owner's share if need be). */
static void unit_owner(void *ctx, void *p, uint16_t owner)
{
	struct hv_backing *b = p;
	(void)ctx;
	if (!b->charged)
		return;
	hv_budget_uncharge(b->owner, unit_fds(b));
	hv_budget_force(owner, unit_fds(b));
	b->owner = owner;
}

int hv_backing_fd(struct hv_backing *b, int writable)
{
	char path[64];

	if (writable)
		return b->fd;
	if (b->ro_fd < 0) {
		int err = b->charged ? hv_budget_charge(b->owner, 1) : 0;
		if (err < 0)
			return err;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
		b->ro_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (b->ro_fd < 0) {
			err = -errno;
			if (b->charged)
				hv_budget_uncharge(b->owner, 1);
			return err;
		}
	}
	return b->ro_fd;
}

static int unit_copy(void *ctx, void *src, uint64_t soff, void *dst, uint64_t doff,
		     uint32_t len)
{
	struct hv_backing *s = src, *d = dst;
	char buf[GNT_PAGE_SIZE];
	(void)ctx;
	/* pread+pwrite: gntd never maps a domain's frames */
	if (pread(s->fd, buf, len, (off_t)soff) != (ssize_t)len)
		return -EIO;
	if (pwrite(d->fd, buf, len, (off_t)doff) != (ssize_t)len)
		return -EIO;
	return 0;
}

/* The table memfd holds max_frames table pages followed by the domain's
 * private ref-allocation bitmap (gntd never reads it). */
static int table_alloc(void *ctx, uint16_t domid, uint32_t max_frames, void **mem,
		       void **backing)
{
	uint32_t bitmap_pages = (max_frames * GNT_ENTRIES_PER_FRAME / 8 + GNT_PAGE_SIZE - 1) /
				GNT_PAGE_SIZE;
	struct hv_backing *b = calloc(1, sizeof(*b));
	void *p;
	(void)ctx, (void)domid;

	if (!b)
		return -ENOMEM;
	b->npages = max_frames + bitmap_pages;
	b->ro_fd = -1;
	b->fd = hv_memfd("gnt-table", b->npages);
	if (b->fd < 0) {
		int err = b->fd;
		free(b);
		return err;
	}
	/* the ref bitmap too: gntd frees the refs of a dead process's shares */
	p = mmap(NULL, (size_t)b->npages * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 b->fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		close(b->fd);
		free(b);
		return err;
	}
	*mem = p;
	*backing = b;
	return 0;
}

static void table_free(void *ctx, void *mem, void *backing, uint32_t max_frames)
{
	struct hv_backing *b = backing;
	(void)ctx, (void)max_frames;
	munmap(mem, (size_t)b->npages * GNT_PAGE_SIZE);
	unit_free(NULL, backing);
}

/* v2 status frames: gntd maps them read-write once, then seals the memfd
 * against any further write (F_SEAL_FUTURE_WRITE), so a domain can only
 * ever map them read-only, whatever its uid. */
static int status_alloc(void *ctx, uint16_t domid, uint32_t npages, void **mem, void **backing)
{
	struct hv_backing *b = calloc(1, sizeof(*b));
	int err;
	void *p;
	(void)ctx, (void)domid;

	if (!b)
		return -ENOMEM;
	b->npages = npages;
	b->ro_fd = -1;
	b->fd = memfd_create("gnt-status", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->fd < 0)
		goto err_free;
	if (fchmod(b->fd, 0600) < 0 || ftruncate(b->fd, (off_t)npages * GNT_PAGE_SIZE) < 0)
		goto err_close;
	p = mmap(NULL, (size_t)npages * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 b->fd, 0);
	if (p == MAP_FAILED)
		goto err_close;
	if (fcntl(b->fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		munmap(p, (size_t)npages * GNT_PAGE_SIZE);
		goto err_close;
	}
	*mem = p;
	*backing = b;
	return 0;

err_close:
	err = -errno;
	close(b->fd);
	free(b);
	return err;
err_free:
	err = -errno;
	free(b);
	return err;
}

static void status_free(void *ctx, void *mem, void *backing, uint32_t npages)
{
	(void)ctx;
	munmap(mem, (size_t)npages * GNT_PAGE_SIZE);
	unit_free(NULL, backing);
}

const struct gnt_core_ops hv_backing_ops = {
	.unit_alloc = unit_alloc,
	.unit_free = unit_free,
	.unit_owner = unit_owner,
	.unit_copy = unit_copy,
	.table_alloc = table_alloc,
	.table_free = table_free,
	.status_alloc = status_alloc,
	.status_free = status_free,
	.evtchn_notify = hv_evtchn_notify,
	.evtchn_unbound = hv_evtchn_unbound,
	.handle_release = hv_gntdev_handle_release,
};

const struct gnt_core_ops hv_backing_revoke_ops = {
	.unit_alloc = unit_alloc_watched,
	.unit_free = unit_free,
	.unit_owner = unit_owner,
	.unit_copy = unit_copy,
	.table_alloc = table_alloc,
	.table_free = table_free,
	.status_alloc = status_alloc,
	.status_free = status_free,
	.expo_open = hv_revoke_expo_open,
	.expo_parked = hv_revoke_expo_parked,
	.expo_free = hv_revoke_expo_free,
	.evtchn_notify = hv_evtchn_notify,
	.evtchn_unbound = hv_evtchn_unbound,
	.handle_release = hv_gntdev_handle_release,
};
