/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fixture.c - fake backing for the core (malloc'd units and
 * tables, counted), guest-side helpers and state snapshots.  See fixture.h.
 */
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

struct fake_counts fk;

/* ---- fake ops --------------------------------------------------------- */

#define FAKE_UNIT_MAGIC 0x756e6974u
#define FAKE_TABLE_MAGIC 0x7461626cu

struct fake_unit {
	uint32_t magic;
	uint32_t npages;
	uint8_t *mem;
};

struct fake_table {
	uint32_t magic;
	uint16_t domid;
	uint32_t max_frames;
	void *mem;
};

static int fake_unit_alloc(void *ctx, uint16_t owner, uint32_t npages, void **backing)
{
	struct fake_unit *u;

	if (ctx != &fk)
		FAIL("unit_alloc: wrong ctx");
	if (owner >= GNT_NR_DOMIDS)
		FAIL("unit_alloc for domain %u", owner);
	if (npages == 0)
		FAIL("unit_alloc of 0 pages");
	if (fk.fail_unit_alloc_at && fk.units_total + 1 == fk.fail_unit_alloc_at) {
		fk.units_total++;
		return -ENOMEM;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->mem = calloc(npages, GNT_PAGE_SIZE);
	if (!u->mem) {
		free(u);
		return -ENOMEM;
	}
	u->magic = FAKE_UNIT_MAGIC;
	u->npages = npages;
	fk.units_total++;
	fk.units_live++;
	fk.pages_live += npages;
	*backing = u;
	return 0;
}

static struct fake_unit *unit_of(void *backing)
{
	struct fake_unit *u = backing;
	if (!u || u->magic != FAKE_UNIT_MAGIC)
		FAIL("not a live fake unit: %p", backing);
	return u;
}

static void fake_unit_free(void *ctx, void *backing)
{
	struct fake_unit *u = unit_of(backing);

	if (ctx != &fk)
		FAIL("unit_free: wrong ctx");
	fk.units_live--;
	fk.pages_live -= u->npages;
	u->magic = 0;
	free(u->mem);
	free(u);
}

static int fake_unit_copy(void *ctx, void *src_backing, uint64_t src_off, void *dst_backing,
			  uint64_t dst_off, uint32_t len)
{
	struct fake_unit *s = unit_of(src_backing), *d = unit_of(dst_backing);

	if (ctx != &fk)
		FAIL("unit_copy: wrong ctx");
	/* the core promises validated offsets: one page, inside the unit */
	if (src_off + len > (uint64_t)s->npages * GNT_PAGE_SIZE ||
	    dst_off + len > (uint64_t)d->npages * GNT_PAGE_SIZE)
		FAIL("unit_copy out of bounds: src %llu dst %llu len %u",
		     (unsigned long long)src_off, (unsigned long long)dst_off, len);
	if (src_off / GNT_PAGE_SIZE != (src_off + len - (len ? 1 : 0)) / GNT_PAGE_SIZE ||
	    dst_off / GNT_PAGE_SIZE != (dst_off + len - (len ? 1 : 0)) / GNT_PAGE_SIZE)
		FAIL("unit_copy crosses a page: src %llu dst %llu len %u",
		     (unsigned long long)src_off, (unsigned long long)dst_off, len);
	if (fk.fail_copy)
		return -EIO;
	if (fk.during_copy)
		fk.during_copy(fk.during_copy_arg); /* a guest racing the copy */
	memmove(d->mem + dst_off, s->mem + src_off, len);
	fk.copies++;
	fk.copied_bytes += len;
	return 0;
}

static int fake_table_alloc(void *ctx, uint16_t domid, uint32_t max_frames, void **mem,
			    void **backing)
{
	struct fake_table *t;

	if (ctx != &fk)
		FAIL("table_alloc: wrong ctx");
	if (fk.fail_table_alloc)
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->mem = aligned_alloc(GNT_PAGE_SIZE, (size_t)max_frames * GNT_PAGE_SIZE);
	if (!t->mem) {
		free(t);
		return -ENOMEM;
	}
	memset(t->mem, 0, (size_t)max_frames * GNT_PAGE_SIZE);
	t->magic = FAKE_TABLE_MAGIC;
	t->domid = domid;
	t->max_frames = max_frames;
	fk.tables_live++;
	fk.tables_total++;
	*mem = t->mem;
	*backing = t;
	return 0;
}

static void fake_table_free(void *ctx, void *mem, void *backing, uint32_t max_frames)
{
	struct fake_table *t = backing;

	if (ctx != &fk)
		FAIL("table_free: wrong ctx");
	if (!t || t->magic != FAKE_TABLE_MAGIC)
		FAIL("table_free: not a live fake table");
	if (t->mem != mem || t->max_frames != max_frames)
		FAIL("table_free: mem/max_frames do not match the allocation");
	t->magic = 0;
	fk.tables_live--;
	free(t->mem);
	free(t);
}

static int fake_status_alloc(void *ctx, uint16_t domid, uint32_t npages, void **mem,
			     void **backing)
{
	(void)domid;
	if (ctx != &fk)
		FAIL("status_alloc: wrong ctx");
	if (fk.fail_status_alloc)
		return -ENOMEM;
	*mem = aligned_alloc(GNT_PAGE_SIZE, (size_t)npages * GNT_PAGE_SIZE);
	if (!*mem)
		return -ENOMEM;
	memset(*mem, 0, (size_t)npages * GNT_PAGE_SIZE);
	*backing = *mem;
	fk.status_live++;
	return 0;
}

static void fake_status_free(void *ctx, void *mem, void *backing, uint32_t npages)
{
	(void)npages;
	if (ctx != &fk || mem != backing)
		FAIL("status_free: wrong ctx or backing");
	fk.status_live--;
	free(mem);
}

const struct gnt_core_ops fake_ops = {
    .unit_alloc = fake_unit_alloc,
    .unit_free = fake_unit_free,
    .unit_copy = fake_unit_copy,
    .table_alloc = fake_table_alloc,
    .table_free = fake_table_free,
    .status_alloc = fake_status_alloc,
    .status_free = fake_status_free,
};

uint8_t *fake_page(const struct gnt_unit *u, uint32_t page)
{
	struct fake_unit *f = unit_of(u->backing);

	if (page >= f->npages)
		FAIL("fake_page: page %u of a %u-page unit", page, f->npages);
	return f->mem + (size_t)page * GNT_PAGE_SIZE;
}

/* ---- core and domains ------------------------------------------------- */

struct gnt_core *fx_core(void)
{
	struct gnt_limits lim = {
	    .max_grant_frames = FX_GRANT_FRAMES,
	    .max_maptrack_frames = FX_MAPTRACK_FRAMES,
	    .max_pages = FX_MAX_PAGES,
	};
	struct gnt_core *c = gnt_core_create(&fake_ops, &fk, &lim);

	if (!c)
		FAIL("gnt_core_create failed");
	return c;
}

void fx_destroy(struct gnt_core *c)
{
	gnt_core_destroy(c);
	if (fk.units_live != 0 || fk.pages_live != 0)
		FAIL("after gnt_core_destroy: %ld units (%ld pages) not freed", fk.units_live,
		     fk.pages_live);
	if (fk.tables_live != 0)
		FAIL("after gnt_core_destroy: %ld tables not freed", fk.tables_live);
	if (fk.status_live != 0)
		FAIL("after gnt_core_destroy: %ld status frame sets not freed", fk.status_live);
#if defined(__SANITIZE_ADDRESS__)
	if (__lsan_do_recoverable_leak_check())
		FAIL("LeakSanitizer found leaks (see above)");
#endif
}

struct gnt_domain *fx_dom_lim(struct gnt_core *c, const char *name, uint32_t grant_frames,
			      uint32_t maptrack_frames, uint64_t max_pages)
{
	struct gnt_limits lim = {
	    .max_grant_frames = grant_frames,
	    .max_maptrack_frames = maptrack_frames,
	    .max_pages = max_pages,
	};
	struct gnt_domain *d = NULL;
	int rc = gnt_core_domain_create(c, 0, name, &lim, &d);

	if (rc < 0 || !d)
		FAIL("gnt_core_domain_create(%s): %d", name ? name : "(null)", rc);
	return d;
}

struct gnt_domain *fx_dom(struct gnt_core *c, const char *name)
{
	return fx_dom_lim(c, name, FX_GRANT_FRAMES, FX_MAPTRACK_FRAMES, FX_MAX_PAGES);
}

uint64_t fx_alloc(struct gnt_core *c, struct gnt_domain *d, uint32_t npages)
{
	uint64_t gfns[64];
	struct gnt_unit *u = NULL;
	struct xen_memory_reservation r = {
	    .nr_extents = npages,
	    .extent_order = 0,
	    .mem_flags = GNT_MEMF_one_unit,
	    .domid = DOMID_SELF,
	};
	long n;

	if (npages == 0 || npages > 64)
		FAIL("fx_alloc: %u pages", npages);
	n = gnt_core_populate(c, d, &r, gfns, &u);
	if (n != (long)npages || !u)
		FAIL("fx_alloc(%u pages) in d%u: %ld", npages, d->id, n);
	return gfns[0];
}

uint8_t *fx_mem(struct gnt_domain *d, uint64_t gfn)
{
	uint32_t page;
	struct gnt_unit *u = gnt_core_unit_of_gfn(d, gfn, &page);

	if (!u)
		FAIL("fx_mem: gfn %#llx not in d%u", (unsigned long long)gfn, d->id);
	return fake_page(u, page);
}

/* ---- guest side ------------------------------------------------------- */

void fx_grant(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint64_t gfn, uint16_t flags)
{
	grant_entry_v1_t *e;

	if (ref >= g->max_frames * GNT_ENTRIES_PER_FRAME)
		FAIL("fx_grant: ref %u beyond the table memory", ref);
	e = &g->table[ref];
	/* Xen's guest protocol: domid and frame first, flags (type) last */
	__atomic_store_n(&e->domid, to, __ATOMIC_RELAXED);
	__atomic_store_n(&e->frame, (uint32_t)gfn, __ATOMIC_RELAXED);
	__atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE); /* publish domid, frame */
}

uint16_t fx_flags(const struct gnt_domain *g, grant_ref_t ref)
{
	return __atomic_load_n(&g->table[ref].flags, __ATOMIC_ACQUIRE);
}

uint16_t fx_busy(const struct gnt_domain *g, grant_ref_t ref)
{
	return fx_flags(g, ref) & (GTF_reading | GTF_writing);
}

uint32_t fx_pins(const struct gnt_domain *g, grant_ref_t ref)
{
	const struct gnt_active *a = &g->active[ref];
	return (uint32_t)a->rd + a->wr + a->xr + a->xw;
}

/* ---- one-op hypercalls ------------------------------------------------ */

struct fx_map fx_map_op(struct gnt_core *c, struct gnt_domain *self, uint32_t dom, grant_ref_t ref,
			uint32_t flags, uint64_t host_addr)
{
	struct gnttab_map_grant_ref op = {
	    .host_addr = host_addr,
	    .flags = flags,
	    .ref = ref,
	    .dom = (domid_t)dom,
	    .status = 99,
	    .handle = 0x5a5a5a5a,
	    .dev_bus_addr = 0x5a5a,
	};
	struct fx_map r = {0};
	struct gnt_unit *u = (void *)&r; /* poison: must be overwritten */
	uint32_t page = 0xdead;
	int rc = gnt_core_map(c, self, &op, 1, &u, &page);

	if (rc != 0)
		FAIL("gnt_core_map returned %d", rc);
	if (op.status == 99)
		FAIL("gnt_core_map left status unset");
	r.status = op.status;
	r.handle = op.handle;
	r.dev_bus_addr = op.dev_bus_addr;
	if (op.status == GNTST_okay) {
		if (u == (void *)&r || !u)
			FAIL("map okay but no unit returned");
		r.unit = u;
		r.page = page;
	} else {
		if (u != NULL)
			FAIL("failed map (%d) returned a unit", op.status);
		if (op.handle != UINT32_MAX)
			FAIL("failed map (%d) returned handle %u", op.status, op.handle);
	}
	return r;
}

int16_t fx_map(struct gnt_core *c, struct gnt_domain *self, uint32_t dom, grant_ref_t ref,
	       uint32_t flags, grant_handle_t *h)
{
	struct fx_map r = fx_map_op(c, self, dom, ref, flags, 0);

	if (h)
		*h = r.handle;
	return r.status;
}

int16_t fx_unmap(struct gnt_core *c, struct gnt_domain *self, grant_handle_t h, uint64_t host_addr,
		 uint64_t dev_bus_addr)
{
	struct gnttab_unmap_grant_ref op = {
	    .host_addr = host_addr,
	    .dev_bus_addr = dev_bus_addr,
	    .handle = h,
	    .status = 99,
	};
	int rc = gnt_core_unmap(c, self, &op, 1);

	if (rc != 0)
		FAIL("gnt_core_unmap returned %d", rc);
	if (op.status == 99)
		FAIL("gnt_core_unmap left status unset");
	return op.status;
}

int16_t fx_copy(struct gnt_core *c, struct gnt_domain *self, struct gnttab_copy op)
{
	int rc;

	op.status = 99;
	rc = gnt_core_copy(c, self, &op, 1);
	if (rc != 0)
		FAIL("gnt_core_copy returned %d", rc);
	if (op.status == 99)
		FAIL("gnt_core_copy left status unset");
	return op.status;
}

/* ---- snapshots -------------------------------------------------------- */

struct fx_mark {
	size_t off;
	char what[64];
};

static void snap_put(struct fx_snap *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->buf = realloc(s->buf, cap);
		if (!s->buf)
			FAIL("snapshot: out of memory");
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

#define PUT(s, v)                                                                                  \
	do {                                                                                       \
		__typeof__(v) v__ = (v);                                                           \
		snap_put((s), &v__, sizeof(v__));                                                  \
	} while (0)

static void snap_mark(struct fx_snap *s, const char *fmt, unsigned a, unsigned b)
{
	if (s->nmarks == s->mcap) {
		s->mcap = s->mcap ? s->mcap * 2 : 64;
		s->marks = realloc(s->marks, s->mcap * sizeof(*s->marks));
		if (!s->marks)
			FAIL("snapshot: out of memory");
	}
	s->marks[s->nmarks].off = s->len;
	snprintf(s->marks[s->nmarks].what, sizeof(s->marks[0].what), fmt, a, b);
	s->nmarks++;
}

#define FX_SNAP_UNITS 4096u

void fx_snap(struct gnt_core *c, struct fx_snap *s)
{
	struct gnt_core_stats st;

	memset(s, 0, sizeof(*s));
	snap_mark(s, "stats", 0, 0);
	gnt_core_stats(c, &st);
	PUT(s, st.domains);
	PUT(s, st.zombies);
	PUT(s, st.units);
	PUT(s, st.frames);
	PUT(s, st.mappings);
	PUT(s, st.pins);
	PUT(s, st.exposures);
	snap_mark(s, "fake counters", 0, 0);
	PUT(s, fk.units_live);
	PUT(s, fk.pages_live);
	PUT(s, fk.tables_live);
	PUT(s, fk.copies);
	for (struct gnt_domain *d = gnt_core_domain_next(c, 0); d;
	     d = gnt_core_domain_next(c, d->id + 1u)) {
		size_t ne = (size_t)d->max_frames * GNT_ENTRIES_PER_FRAME;

		snap_mark(s, "d%u header", d->id, 0);
		PUT(s, d->id);
		PUT(s, (int)d->state);
		snap_put(s, d->name, sizeof(d->name));
		PUT(s, d->max_pages);
		PUT(s, d->tot_pages);
		PUT(s, d->next_gfn);
		PUT(s, d->nr_frames);
		PUT(s, d->max_frames);
		PUT(s, d->ext_pins);
		PUT(s, d->mt_used);
		PUT(s, d->mt_limit);
		snap_mark(s, "d%u p2m", d->id, 0);
		PUT(s, d->p2m_len);
		for (uint32_t i = 0; i < d->p2m_len; i++)
			PUT(s, d->p2m[i]->id);
		snap_mark(s, "d%u shared table", d->id, 0);
		PUT(s, d->version);
		snap_put(s, d->table, ne * sizeof(*d->table));
		if (d->status)
			snap_put(s, d->status, (size_t)gnt_core_status_frames(d->max_frames) *
						       GNT_PAGE_SIZE);
		for (size_t r = 0; r < ne; r++) {
			const struct gnt_active *a = &d->active[r];
			if (r % GNT_ENTRIES_PER_FRAME == 0)
				snap_mark(s, "d%u active from ref %u", d->id, (unsigned)r);
			PUT(s, a->rd);
			PUT(s, a->wr);
			PUT(s, a->xr);
			PUT(s, a->xw);
			if (a->rd || a->wr || a->xr || a->xw) {
				PUT(s, a->domid);
				PUT(s, a->unit);
				PUT(s, a->page);
				PUT(s, a->gfn);
				PUT(s, a->start);
				PUT(s, a->length);
				PUT(s, a->trans);
				PUT(s, a->trans_dom);
				PUT(s, a->trans_gref);
			}
		}
		snap_mark(s, "d%u maptrack", d->id, 0);
		for (uint32_t h = 0; h < d->mt_len; h++) {
			const struct gnt_maptrack *m = &d->mt[h];
			if (!m->flags)
				continue;
			PUT(s, h);
			PUT(s, m->ref);
			PUT(s, m->dom);
			PUT(s, m->flags);
			PUT(s, m->host_addr);
			PUT(s, m->dev_bus_addr);
			PUT(s, (uintptr_t)m->expo);
		}
	}
	for (uint32_t id = 0; id < FX_SNAP_UNITS; id++) {
		const struct gnt_unit *u = gnt_core_unit(c, id);
		if (!u)
			continue;
		snap_mark(s, "unit %u", id, 0);
		PUT(s, u->id);
		PUT(s, u->owner);
		PUT(s, u->in_p2m);
		PUT(s, u->npages);
		PUT(s, u->base_gfn);
		PUT(s, u->refs);
		PUT(s, (uintptr_t)u->backing);
		for (const struct gnt_expo *x = u->expos; x; x = x->next) {
			PUT(s, (uintptr_t)x);
			PUT(s, x->unit);
			PUT(s, x->mapper);
			PUT(s, x->writable);
			PUT(s, x->handles);
			snap_put(s, x->cover, u->npages * sizeof(*x->cover));
		}
	}
}

static void snap_free(struct fx_snap *s)
{
	free(s->buf);
	free(s->marks);
	memset(s, 0, sizeof(*s));
}

bool fx_snap_same(struct gnt_core *c, struct fx_snap *s)
{
	struct fx_snap now;
	size_t i, n;
	bool same;

	fx_snap(c, &now);
	same = now.len == s->len && !memcmp(now.buf, s->buf, s->len);
	if (!same) {
		n = now.len < s->len ? now.len : s->len;
		for (i = 0; i < n && now.buf[i] == s->buf[i]; i++)
			;
		const char *what = "?";
		for (size_t k = 0; k < s->nmarks && s->marks[k].off <= i; k++)
			what = s->marks[k].what;
		fprintf(stderr,
			"  state changed: first difference at byte %zu (in %s); "
			"length %zu -> %zu\n",
			i, what, s->len, now.len);
	}
	snap_free(&now);
	snap_free(s);
	return same;
}

bool fx_stats_idle(struct gnt_core *c)
{
	struct gnt_core_stats st;

	gnt_core_stats(c, &st);
	if (st.domains == 1 && st.zombies == 0 && st.units == 0 && st.frames == 0 &&
	    st.mappings == 0 && st.pins == 0 && st.exposures == 0)
		return true;
	fprintf(stderr,
		"  stats not idle: domains %u zombies %u units %u frames %llu "
		"mappings %llu pins %llu exposures %llu\n",
		st.domains, st.zombies, st.units, (unsigned long long)st.frames,
		(unsigned long long)st.mappings, (unsigned long long)st.pins,
		(unsigned long long)st.exposures);
	return false;
}
