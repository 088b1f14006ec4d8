/* SPDX-License-Identifier: MIT */
/*
 * lib/grant.c - the granting side.  Entries are written straight into the
 * shared table (no hypercall), in the order Xen's public header demands;
 * refs come from a bitmap the domain's processes share, so two processes of
 * one domain never hand out the same ref.  Both table versions: v1 entries
 * carry GTF_reading/GTF_writing in their flags, v2 entries in the status
 * frames gntd writes (Linux's gnttab_v1_ops / gnttab_v2_ops).
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- reference allocation -------------------------------------------- */

/* Refs a table of `frames` frames holds in the version in effect. */
static uint32_t refs_in(uint32_t frames)
{
	return frames * (uint32_t)(gnt__g.version == 2 ? GNT_PAGE_SIZE / sizeof(grant_entry_v2_t)
						      : GNT_PAGE_SIZE / sizeof(grant_entry_v1_t));
}

static grant_entry_v2_t *entry_v2(grant_ref_t ref)
{
	return (grant_entry_v2_t *)(void *)gnt__g.table + ref;
}

static uint32_t alloc_hint = GNTTAB_NR_RESERVED_ENTRIES;
static grant_ref_t *list_next;  /* private lists: ref -> next */
static uint32_t list_cap;

static int claim_one(grant_ref_t *out)
{
	for (;;) {
		uint32_t n = refs_in(__atomic_load_n(&gnt__g.nr_frames, __ATOMIC_RELAXED));
		for (uint32_t pass = 0; pass < 2; pass++) {
			uint32_t start = pass ? GNTTAB_NR_RESERVED_ENTRIES : alloc_hint;
			for (uint32_t r = start; r < n; r++) {
				uint64_t bit = 1ull << (r % 64), *w = &gnt__g.bitmap[r / 64];
				if (__atomic_load_n(w, __ATOMIC_RELAXED) == ~0ull) {
					r |= 63;
					continue;
				}
				if (!(__atomic_fetch_or(w, bit, __ATOMIC_ACQ_REL) & bit)) {
					alloc_hint = r + 1;
					*out = r;
					return 0;
				}
			}
		}
		/* full: grow the table by a frame, as Linux's gnttab_expand */
		int err = gnt__grow_table(gnt__g.nr_frames + 1);
		if (err < 0)
			return -ENOSPC;
	}
}

static void free_one(grant_ref_t ref)
{
	if (ref < GNTTAB_NR_RESERVED_ENTRIES || ref >= refs_in(gnt__g.max_frames))
		return;
	__atomic_fetch_and(&gnt__g.bitmap[ref / 64], ~(1ull << (ref % 64)), __ATOMIC_RELEASE);
}

static int ensure_list(grant_ref_t ref)
{
	if (ref < list_cap)
		return 0;
	uint32_t cap = gnt__g.max_frames * (GNT_PAGE_SIZE / sizeof(grant_entry_v1_t));
	grant_ref_t *n = realloc(list_next, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	list_next = n;
	list_cap = cap;
	return 0;
}

int gnt_alloc_grant_references(uint16_t count, grant_ref_t *head)
{
	grant_ref_t h = GNT_LIST_END, r;
	int err = 0;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	for (uint32_t i = 0; !err && i < count; i++) {
		err = claim_one(&r);
		if (!err)
			err = ensure_list(r);
		if (!err) {
			list_next[r] = h;
			h = r;
		} else if (err != -ENOSPC) {
			free_one(r);
		}
	}
	if (err) {
		while (h != GNT_LIST_END) {
			r = h;
			h = list_next[r];
			free_one(r);
		}
		err = -ENOSPC;
	} else {
		*head = h;
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return err;
}

int gnt_claim_grant_reference(grant_ref_t *head)
{
	grant_ref_t r;

	pthread_mutex_lock(&gnt__g.lock);
	r = *head;
	if (r == GNT_LIST_END || r >= list_cap) {
		pthread_mutex_unlock(&gnt__g.lock);
		return -ENOSPC;
	}
	*head = list_next[r];
	pthread_mutex_unlock(&gnt__g.lock);
	return (int)r;
}

void gnt_release_grant_reference(grant_ref_t *head, grant_ref_t ref)
{
	pthread_mutex_lock(&gnt__g.lock);
	if (ensure_list(ref) == 0) {
		list_next[ref] = *head;
		*head = ref;
	}
	pthread_mutex_unlock(&gnt__g.lock);
}

int gnt_empty_grant_references(const grant_ref_t *head)
{
	return *head == GNT_LIST_END;
}

void gnt_free_grant_references(grant_ref_t head)
{
	pthread_mutex_lock(&gnt__g.lock);
	while (head != GNT_LIST_END && head < list_cap) {
		grant_ref_t r = head;
		head = list_next[r];
		free_one(r);
	}
	pthread_mutex_unlock(&gnt__g.lock);
}

void gnt_free_grant_reference(grant_ref_t ref)
{
	pthread_mutex_lock(&gnt__g.lock);
	free_one(ref);
	pthread_mutex_unlock(&gnt__g.lock);
}

int gnt__set_version(uint32_t want, uint32_t *now)
{
	struct gnttab_set_version op = {.version = want};
	struct gnttab_get_status_frames sf = {.dom = DOMID_SELF};
	uint32_t got = 0, nfds = 1;
	int32_t rc, rc2;
	int err, fd = -1;

	err = gnt__rpc(GNT_MSG_HYPERCALL,
		       GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_set_version), 1, &op,
		       sizeof(op), NULL, 0, &op, sizeof(op), &got, NULL, NULL, &rc);
	if (err < 0)
		return err;
	if (got != sizeof(op) || (op.version != 1 && op.version != 2))
		return -EPROTO;
	gnt__g.version = op.version;
	*now = op.version;
	if (rc < 0 || op.version != 2 || gnt__g.status)
		return rc;
	/* the status frames come with get_status_frames' reply */
	err = gnt__rpc(GNT_MSG_HYPERCALL,
		       GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_get_status_frames), 1, &sf,
		       sizeof(sf), NULL, 0, &sf, sizeof(sf), NULL, &fd, &nfds, &rc2);
	if (err < 0)
		return err;
	if (rc2 < 0 || sf.status != GNTST_okay || nfds != 1) {
		if (nfds == 1)
			close(fd);
		return -EPROTO;
	}
	return gnt__status_map_and_close(fd);
}

int gnt__grow_table(uint32_t want)
{
	struct gnttab_setup_table op = {.dom = DOMID_SELF, .nr_frames = want};
	uint64_t frames[4096 + 1];
	int32_t rc;
	int err;

	if (want > gnt__g.max_frames)
		return -ENOSPC;
	err = gnt__rpc(GNT_MSG_HYPERCALL,
		       GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table), 1, &op,
		       sizeof(op), NULL, 0, frames, sizeof(frames), NULL, NULL, NULL, &rc);
	if (err < 0)
		return err;
	memcpy(&op, frames, sizeof(op));
	if (rc < 0 || op.status != GNTST_okay)
		return -ENOSPC;
	if (want > gnt__g.nr_frames)
		__atomic_store_n(&gnt__g.nr_frames, want, __ATOMIC_RELAXED);
	return 0;
}

/* ---- granting --------------------------------------------------------- */

/* Write entry ref (lock held, table mapped, ref in range). */
static void write_entry(grant_ref_t ref, domid_t domid, uint64_t gfn, int readonly)
{
	uint16_t flags = (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0));

	if (gnt__g.version == 2) {
		grant_entry_v2_t *e = entry_v2(ref);
		__atomic_store_n(&e->hdr.domid, domid, __ATOMIC_RELAXED);
		__atomic_store_n(&e->full_page.frame, gfn, __ATOMIC_RELAXED);
		/* domid and frame visible before the entry becomes valid */
		__atomic_store_n(&e->hdr.flags, flags, __ATOMIC_RELEASE);
	} else {
		grant_entry_v1_t *e = &gnt__g.table[ref];
		__atomic_store_n(&e->domid, domid, __ATOMIC_RELAXED);
		__atomic_store_n(&e->frame, (uint32_t)gfn, __ATOMIC_RELAXED);
		/* domid and frame visible before the entry becomes valid */
		__atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
	}
}

void gnt_grant_foreign_access_ref(grant_ref_t ref, domid_t domid, uint64_t gfn,
				  int readonly)
{
	pthread_mutex_lock(&gnt__g.lock);
	if (gnt__ensure() == 0 && ref < refs_in(gnt__g.max_frames))
		write_entry(ref, domid, gfn, readonly);
	pthread_mutex_unlock(&gnt__g.lock);
}

/* Claim a ref and grant gfn through it (lock held, table mapped). */
static int grant_locked(domid_t domid, uint64_t gfn, int readonly, grant_ref_t *r)
{
	int err;

	if (gnt__g.version != 2 && gfn > UINT32_MAX)
		return -EINVAL; /* a v1 entry holds 32 bits */
	err = claim_one(r);
	if (!err)
		write_entry(*r, domid, gfn, readonly);
	return err;
}

int gnt__grant_pages(domid_t domid, const void *va, size_t n, int readonly, grant_ref_t *refs,
		     size_t *granted)
{
	size_t run = 0;
	uint64_t gfn = GNT_INVALID_GFN;
	int err;

	*granted = 0;
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	for (size_t i = 0; !err && i < n; i++, run--, gfn++) {
		if (!run) /* the next region of our memory (one lookup per run) */
			gfn = gnt__virt_to_gfn_locked((const char *)va + i * GNT_PAGE_SIZE, &run);
		err = gfn == GNT_INVALID_GFN ? -EINVAL /* not our memory */
					     : grant_locked(domid, gfn, readonly, &refs[*granted]);
		if (!err)
			(*granted)++;
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return err;
}

int gnt_grant_foreign_access(domid_t domid, uint64_t gfn, int readonly)
{
	grant_ref_t r;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = grant_locked(domid, gfn, readonly, &r);
	pthread_mutex_unlock(&gnt__g.lock);
	return err ? err : (int)r;
}

/* gntd may only be waiting for the kernel's word that the mapper let go
 * (docs/design.md, "Revocation"): ask it to settle now.  0 or -errno. */
static int settle(grant_ref_t ref)
{
	int32_t rc;
	return gnt__rpc(GNT_MSG_SETTLE, 0, ref, NULL, 0, NULL, 0, NULL, 0, NULL, NULL, NULL, &rc);
}

static int end_ref_v1(grant_ref_t ref)
{
	grant_entry_v1_t *e = &gnt__g.table[ref];
	uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

	if (flags & (GTF_reading | GTF_writing)) {
		if (settle(ref) < 0)
			return 0;
		flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
	}
	do {
		if (flags & (GTF_reading | GTF_writing))
			return 0; /* in use: cannot be revoked (Xen) */
	} while (!__atomic_compare_exchange_n(&e->flags, &flags, 0, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_ACQUIRE));
	return 1;
}

/* Linux's gnttab_end_foreign_access_ref_v2: the entry goes invalid at once
 * (no new pin can start), and it has ended when no pin is left. */
static int end_ref_v2(grant_ref_t ref)
{
	const uint16_t busy = GTF_reading | GTF_writing;

	if (!gnt__g.status)
		return 0;
	/* invalid before we look at the status gntd writes */
	__atomic_store_n(&entry_v2(ref)->hdr.flags, 0, __ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&gnt__g.status[ref], __ATOMIC_SEQ_CST) & busy))
		return 1;
	if (settle(ref) < 0)
		return 0;
	return !(__atomic_load_n(&gnt__g.status[ref], __ATOMIC_ACQUIRE) & busy);
}

static int end_ref_locked(grant_ref_t ref)
{
	if (gnt__ensure() < 0 || ref >= refs_in(gnt__g.max_frames))
		return 0;
	return gnt__g.version == 2 ? end_ref_v2(ref) : end_ref_v1(ref);
}

int gnt_end_foreign_access_ref(grant_ref_t ref)
{
	int r;
	pthread_mutex_lock(&gnt__g.lock);
	r = end_ref_locked(ref);
	pthread_mutex_unlock(&gnt__g.lock);
	return r;
}

int gnt_try_end_foreign_access(grant_ref_t ref)
{
	int r;
	pthread_mutex_lock(&gnt__g.lock);
	r = end_ref_locked(ref);
	if (r)
		free_one(ref);
	pthread_mutex_unlock(&gnt__g.lock);
	return r;
}

/* ---- deferred end (Linux gnttab_end_foreign_access) -------------------- */

struct deferred {
	struct deferred *next;
	grant_ref_t ref;
	void *page;
	unsigned int tries;
};

static pthread_mutex_t dlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dcond = PTHREAD_COND_INITIALIZER;
static struct deferred *dhead;
static unsigned int dcount;
static bool dthread;
static pid_t dthread_pid;

void gnt_deferred_poll(void)
{
	struct deferred **pp, *d, *done = NULL;

	pthread_mutex_lock(&dlock);
	for (pp = &dhead; (d = *pp);) {
		if (gnt_try_end_foreign_access(d->ref)) {
			*pp = d->next;
			d->next = done;
			done = d;
			dcount--;
		} else {
			d->tries++;
			pp = &d->next;
		}
	}
	pthread_mutex_unlock(&dlock);
	while (done) {
		d = done;
		done = d->next;
		if (d->page)
			gnt_free_page(d->page);
		free(d);
	}
}

unsigned int gnt_deferred_count(void)
{
	unsigned int n;
	pthread_mutex_lock(&dlock);
	n = dcount;
	pthread_mutex_unlock(&dlock);
	return n;
}

static void *deferred_thread(void *arg)
{
	const char *e = getenv("GNT_DEFERRED_MS");
	long ms = e ? strtol(e, NULL, 10) : 1000;
	(void)arg;

	if (ms <= 0)
		ms = 1000;
	for (;;) {
		struct timespec ts;
		pthread_mutex_lock(&dlock);
		while (!dhead)
			pthread_cond_wait(&dcond, &dlock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&dcond, &dlock, &ts);
		pthread_mutex_unlock(&dlock);
		gnt_deferred_poll();
	}
	return NULL;
}

/* The deferred list is the parent's business: a child that inherited it
 * would end those grants and free those pages a second time (the parent's
 * thread does it too).  Hold dlock across fork; the child starts empty. */
static void dfork_prepare(void)
{
	pthread_mutex_lock(&dlock);
}

static void dfork_parent(void)
{
	pthread_mutex_unlock(&dlock);
}

static void dfork_child(void)
{
	while (dhead) {
		struct deferred *d = dhead;
		dhead = d->next;
		free(d);
	}
	dcount = 0;
	dthread = false;
	pthread_cond_init(&dcond, NULL); /* the parent's thread may wait on it */
	pthread_mutex_unlock(&dlock);
}

__attribute__((constructor)) static void deferred_init(void)
{
	pthread_atfork(dfork_prepare, dfork_parent, dfork_child);
}

void gnt_end_foreign_access(grant_ref_t ref, void *page)
{
	struct deferred *d;

	if (gnt_try_end_foreign_access(ref)) {
		if (page)
			gnt_free_page(page);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return; /* Linux leaks the grant and page too */
	d->ref = ref;
	d->page = page;
	pthread_mutex_lock(&dlock);
	d->next = dhead;
	dhead = d;
	dcount++;
	if (!dthread || dthread_pid != gnt__pid()) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, deferred_thread, NULL) == 0) {
			dthread = true;
			dthread_pid = gnt__pid();
		}
		pthread_attr_destroy(&a);
	}
	pthread_cond_signal(&dcond);
	pthread_mutex_unlock(&dlock);
}

int gnt_grant_set_unmap_notify(grant_ref_t ref, uint32_t offset, uint32_t flags,
			       evtchn_port_t port)
{
	return gnt__unmap_notify(GNT_UNMAP_NOTIFY_GRANT, ref, offset, flags, port);
}

/* ---- receiving transfers (Linux's gnttab_grant_foreign_transfer) -------- */

/* The header of entry ref in the version in effect: a transfer's flags are
 * there in v2 too (only reading/writing move to the status frames). */
static grant_entry_header_t *transfer_hdr(grant_ref_t ref)
{
	return gnt__g.version == 2 ? &entry_v2(ref)->hdr
				   : (grant_entry_header_t *)(void *)&gnt__g.table[ref];
}

void gnt_grant_foreign_transfer_ref(grant_ref_t ref, domid_t domid)
{
	grant_entry_header_t *h;

	pthread_mutex_lock(&gnt__g.lock);
	if (gnt__ensure() == 0 && ref < refs_in(gnt__g.max_frames)) {
		h = transfer_hdr(ref);
		__atomic_store_n(&h->domid, domid, __ATOMIC_RELAXED);
		if (gnt__g.version == 2)
			__atomic_store_n(&entry_v2(ref)->full_page.frame, 0, __ATOMIC_RELAXED);
		else
			__atomic_store_n(&gnt__g.table[ref].frame, 0, __ATOMIC_RELAXED);
		/* domid visible before the entry becomes valid */
		__atomic_store_n(&h->flags, (uint16_t)GTF_accept_transfer, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&gnt__g.lock);
}

int gnt_grant_foreign_transfer(domid_t domid)
{
	grant_ref_t r;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = claim_one(&r);
	pthread_mutex_unlock(&gnt__g.lock);
	if (err)
		return err;
	gnt_grant_foreign_transfer_ref(r, domid);
	return (int)r;
}

static uint64_t transferred_frame(grant_ref_t ref)
{
	return gnt__g.version == 2 ? __atomic_load_n(&entry_v2(ref)->full_page.frame, __ATOMIC_RELAXED)
				   : __atomic_load_n(&gnt__g.table[ref].frame, __ATOMIC_RELAXED);
}

static uint64_t end_transfer_locked(grant_ref_t ref)
{
	grant_entry_header_t *h;
	uint16_t flags;
	uint64_t gfn;
	int32_t rc;

	if (gnt__ensure() < 0 || ref >= refs_in(gnt__g.max_frames))
		return 0;
	h = transfer_hdr(ref);
	flags = __atomic_load_n(&h->flags, __ATOMIC_ACQUIRE);
	/* not committed: withdraw the offer, unless gntd commits right now */
	while (!(flags & GTF_transfer_committed))
		if (__atomic_compare_exchange_n(&h->flags, &flags, 0, false, __ATOMIC_SEQ_CST,
						__ATOMIC_ACQUIRE))
			return 0;
	if (!(flags & GTF_transfer_completed)) {
		/* Committed, not completed: gntd is in the middle of it.  It serves
		 * one request at a time and a transfer is one request, so once any
		 * request of ours is answered the transfer is over (Linux spins). */
		gnt__rpc(GNT_MSG_SETTLE, 0, ref, NULL, 0, NULL, 0, NULL, 0, NULL, NULL, NULL, &rc);
		flags = __atomic_load_n(&h->flags, __ATOMIC_ACQUIRE);
	}
	/* the frame was written before completed (release in gntd) */
	gfn = flags & GTF_transfer_completed ? transferred_frame(ref) : 0;
	__atomic_store_n(&h->flags, 0, __ATOMIC_RELEASE);
	return gfn;
}

uint64_t gnt_end_foreign_transfer_ref(grant_ref_t ref)
{
	uint64_t gfn;

	pthread_mutex_lock(&gnt__g.lock);
	gfn = end_transfer_locked(ref);
	pthread_mutex_unlock(&gnt__g.lock);
	return gfn;
}

uint64_t gnt_end_foreign_transfer(grant_ref_t ref)
{
	uint64_t gfn;

	pthread_mutex_lock(&gnt__g.lock);
	gfn = end_transfer_locked(ref);
	free_one(ref);
	pthread_mutex_unlock(&gnt__g.lock);
	return gfn;
}
