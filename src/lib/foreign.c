/* SPDX-License-Identifier: MIT */
/*
 * lib/foreign.c - this process's table of foreign pages: for each mapping
 * handle, where it is mapped, the {domid, gref} it maps and its reference
 * count (Linux's PG_foreign, page->private and page_count); and, to find a
 * handle from any address inside its page in O(1), a hash (linear probing,
 * no tombstones) of 2 MiB regions, each an array of its 512 pages' handles:
 * a map of N pages costs N sequential stores and a hash insert per region,
 * not a scattered insert per page.
 *
 * It has its own lock, never held across a call to gntd, so lookups and
 * gnt_page_get/put do not wait for a long map batch of another thread.
 * Lock order: gnt__g.lock, then this table's lock.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gnt/foreign.h"

#define HASH_MIN_CAP 16u /* small, so that tests with a few pages grow it */
#define REGION_SHIFT 21  /* 2 MiB */
#define REGION_PAGES (1u << (REGION_SHIFT - 12))

struct fpage {
	uint64_t addr;  /* page-aligned; 0: no mapping of ours with this handle */
	uint64_t dev;   /* the map's dev_bus_addr, which unmap checks */
	grant_ref_t gref;
	domid_t domid;
	uint32_t refs;  /* 1 + gets not yet put; 0 once an unmap has claimed it */
};

struct region {
	uint32_t h[REGION_PAGES]; /* handle + 1 of each page; 0: none */
	uint32_t count;           /* pages with a handle */
};

struct slot {
	uint64_t key; /* region number + 1; 0: empty */
	struct region *r;
};

static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static struct fpage *pg; /* indexed by handle */
static uint32_t pg_len;
static struct slot *slots;
static uint32_t cap, used; /* cap: 0 or a power of two; used <= cap / 2 */

static uint64_t key_of(uint64_t page)
{
	return (page >> REGION_SHIFT) + 1;
}

static uint32_t page_idx(uint64_t page)
{
	return (uint32_t)(page >> 12) & (REGION_PAGES - 1);
}

static uint32_t home(uint64_t key)
{
	/* Fibonacci hashing: consecutive regions spread out */
	return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* Slot of region key, or cap if absent (lock held). */
static uint32_t find(uint64_t key)
{
	if (!cap)
		return cap;
	for (uint32_t i = home(key);; i = (i + 1) & (cap - 1)) {
		if (slots[i].key == key)
			return i;
		if (!slots[i].key)
			return cap;
	}
}

/* Insert a region; room guaranteed by the caller (lock held). */
static void slot_insert(uint64_t key, struct region *r)
{
	uint32_t i = home(key);

	while (slots[i].key)
		i = (i + 1) & (cap - 1);
	used++;
	slots[i] = (struct slot){key, r};
}

/* Record page -> handle: the region exists or is made (room for it in the
 * hash guaranteed by the caller).  -ENOMEM (lock held). */
static int slot_put(uint64_t page, uint32_t handle)
{
	uint64_t key = key_of(page);
	uint32_t i = find(key);
	struct region *r;

	if (i == cap) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		slot_insert(key, r);
	} else {
		r = slots[i].r;
	}
	r->count += !r->h[page_idx(page)];
	r->h[page_idx(page)] = handle + 1;
	return 0;
}

/* Remove the hash slot i (backward shift: pull later entries of the probe
 * run into the hole unless their home lies cyclically in (hole, entry]). */
static void slot_remove(uint32_t i)
{
	uint32_t j = i;

	used--;
	for (;;) {
		slots[i].key = 0;
		for (;;) {
			uint32_t k;
			j = (j + 1) & (cap - 1);
			if (!slots[j].key)
				return;
			k = home(slots[j].key);
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			slots[i] = slots[j];
			i = j;
			break;
		}
	}
}

/* Remove page if it still names handle: a newer mapping placed over the
 * same address owns it now (lock held). */
static void slot_del(uint64_t page, uint32_t handle)
{
	uint32_t i = find(key_of(page));
	struct region *r;

	if (i == cap)
		return;
	r = slots[i].r;
	if (r->h[page_idx(page)] != handle + 1)
		return;
	r->h[page_idx(page)] = 0;
	if (--r->count == 0) {
		free(r);
		slot_remove(i);
	}
}

static int rehash(uint32_t ncap)
{
	struct slot *old = slots, *n = calloc(ncap, sizeof(*n));
	uint32_t ocap = cap;

	if (!n)
		return -ENOMEM;
	slots = n;
	cap = ncap;
	used = 0;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].key)
			slot_insert(old[i].key, old[i].r);
	free(old);
	return 0;
}

/* Room for `more` new regions and handles up to max_handle (lock held). */
static int reserve(uint32_t more, uint32_t max_handle)
{
	uint64_t want = (uint64_t)used + more;
	uint32_t ncap = cap ? cap : HASH_MIN_CAP;

	if (max_handle >= pg_len) {
		uint32_t n = pg_len ? pg_len : 1024;
		struct fpage *p;
		while (n <= max_handle)
			n *= 2;
		p = realloc(pg, (size_t)n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + pg_len, 0, (size_t)(n - pg_len) * sizeof(*p));
		pg = p;
		pg_len = n;
	}
	while (want * 2 > ncap)
		ncap *= 2;
	return ncap != cap ? rehash(ncap) : 0;
}

static void forget(uint32_t h)
{
	if (h < pg_len && pg[h].addr) {
		slot_del(pg[h].addr, h);
		pg[h].addr = 0;
	}
}

int gnt__ftab_add(const struct gnttab_map_grant_ref *ops, uint32_t n)
{
	uint32_t max_h = 0, regions = 0;
	int err;

	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].handle > max_h)
			max_h = ops[i].handle;
		/* at most one new region where the previous op's differs */
		regions += !i || key_of(ops[i].host_addr) != key_of(ops[i - 1].host_addr);
	}
	pthread_mutex_lock(&tlock);
	err = reserve(regions, max_h);
	for (uint32_t i = 0; !err && i < n; i++) {
		uint32_t h = ops[i].handle;
		/* a handle another process of the domain unmapped, reissued */
		forget(h);
		pg[h] = (struct fpage){.addr = ops[i].host_addr, .dev = ops[i].dev_bus_addr,
				       .gref = ops[i].ref, .domid = ops[i].dom, .refs = 1};
		err = slot_put(ops[i].host_addr, h);
		if (err) {
			/* none added: take back what this call recorded */
			pg[h].addr = 0;
			for (uint32_t k = 0; k < i; k++)
				forget(ops[k].handle);
		}
	}
	pthread_mutex_unlock(&tlock);
	return err;
}

uint64_t gnt__ftab_addr(uint32_t handle, uint64_t *dev)
{
	uint64_t a = 0;

	pthread_mutex_lock(&tlock);
	if (handle < pg_len) {
		a = pg[handle].addr;
		*dev = pg[handle].dev;
	}
	pthread_mutex_unlock(&tlock);
	return a;
}

void gnt__ftab_del(const struct gnttab_unmap_grant_ref *ops, uint32_t n)
{
	pthread_mutex_lock(&tlock);
	for (uint32_t i = 0; i < n; i++)
		if (ops[i].status == GNTST_okay)
			forget(ops[i].handle);
	pthread_mutex_unlock(&tlock);
}

/* The entry of the page holding address p, or NULL (lock held). */
static struct fpage *lookup(const void *p)
{
	uint64_t page = (uint64_t)(uintptr_t)p & ~(uint64_t)(GNT_PAGE_SIZE - 1);
	uint32_t i = page ? find(key_of(page)) : cap, h;

	if (i == cap)
		return NULL;
	h = slots[i].r->h[page_idx(page)];
	return h ? &pg[h - 1] : NULL;
}

/* The count that decides whether op i may go: that of pages[i] when the
 * caller names the page (Linux's pages array), else of the op's mapping. */
static uint32_t op_refs(const struct gnttab_unmap_grant_ref *op, void *const *pages,
			uint32_t i)
{
	const struct fpage *f;

	if (pages)
		f = lookup(pages[i]);
	else
		f = op->handle < pg_len && pg[op->handle].addr ? &pg[op->handle] : NULL;
	return f ? f->refs : 1;
}

int gnt__ftab_claim_idle(const struct gnttab_unmap_grant_ref *ops, void *const *pages,
			 uint32_t n)
{
	int err = 0;

	pthread_mutex_lock(&tlock);
	for (uint32_t i = 0; i < n && !err; i++)
		if (op_refs(&ops[i], pages, i) > 1)
			err = -EBUSY;
	/* from here until the unmap ends, gnt_page_get on these pages fails:
	 * nobody can take a reference to a page we have decided to drop */
	for (uint32_t i = 0; i < n && !err; i++)
		if (ops[i].handle < pg_len && pg[ops[i].handle].addr)
			pg[ops[i].handle].refs = 0;
	pthread_mutex_unlock(&tlock);
	return err;
}

void gnt__ftab_unclaim(const struct gnttab_unmap_grant_ref *ops, uint32_t n)
{
	pthread_mutex_lock(&tlock);
	for (uint32_t i = 0; i < n; i++)
		if (ops[i].handle < pg_len && pg[ops[i].handle].addr && !pg[ops[i].handle].refs)
			pg[ops[i].handle].refs = 1;
	pthread_mutex_unlock(&tlock);
}

/* ---- public ------------------------------------------------------------ */

int gnt_page_foreign(const void *p, struct gnt_foreign *out)
{
	const struct fpage *f;

	pthread_mutex_lock(&tlock);
	f = lookup(p);
	if (f && out)
		*out = (struct gnt_foreign){.domid = f->domid, .gref = f->gref,
					    .handle = (grant_handle_t)(f - pg)};
	pthread_mutex_unlock(&tlock);
	return f != NULL;
}

int gnt_page_get(const void *p)
{
	struct fpage *f;
	int err = 0;

	pthread_mutex_lock(&tlock);
	f = lookup(p);
	if (!f || !f->refs)
		err = -ENOENT;
	else if (f->refs == UINT32_MAX)
		err = -EOVERFLOW;
	else
		f->refs++;
	pthread_mutex_unlock(&tlock);
	return err;
}

int gnt_page_put(const void *p)
{
	struct fpage *f;
	int err = 0;

	pthread_mutex_lock(&tlock);
	f = lookup(p);
	if (!f || !f->refs)
		err = -ENOENT;
	else if (f->refs == 1)
		err = -EINVAL;
	else
		f->refs--;
	pthread_mutex_unlock(&tlock);
	return err;
}

int gnt_page_count(const void *p)
{
	const struct fpage *f;
	int n;

	pthread_mutex_lock(&tlock);
	f = lookup(p);
	n = !f || !f->refs ? -ENOENT : f->refs > INT32_MAX ? INT32_MAX : (int)f->refs;
	pthread_mutex_unlock(&tlock);
	return n;
}

/* A thread of the parent may hold the lock at fork(): the child's copy of it
 * would stay locked forever. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&tlock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&tlock);
}

__attribute__((constructor)) static void ftab_init(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}
