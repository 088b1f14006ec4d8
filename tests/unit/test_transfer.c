/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_transfer.c - GNTTABOP_transfer in the core: success (the
 * receiver's entry gets the new frame and GTF_transfer_completed, the content
 * moves, accounting moves by exactly one page), every failure with Xen's code,
 * which failures keep the page (bad_page: nothing changes at all) and which
 * lose it (the sender's page goes, the receiver gets nothing), the receiver's
 * memory limit, and a batch with mixed results.
 */
#include "fixture.h"
#include "core/transfer.h"

#define REF 20

struct env {
	struct gnt_core *c;
	struct gnt_domain *s, *r, *x; /* sender, receiver, third party */
	uint64_t gfn;                 /* a one-page unit of s, content 0x5a */
};

static struct env env(void)
{
	struct env e;

	e.c = fx_core();
	e.s = fx_dom(e.c, "sender");
	e.r = fx_dom(e.c, "receiver");
	e.x = fx_dom(e.c, "other");
	e.gfn = fx_alloc(e.c, e.s, 1);
	memset(fx_mem(e.s, e.gfn), 0x5a, GNT_PAGE_SIZE);
	fx_grant(e.r, REF, e.s->id, 0, GTF_accept_transfer);
	return e;
}

static int16_t xfer(struct env *e, struct gnt_domain *self, uint64_t gfn, uint32_t to,
		    grant_ref_t ref)
{
	struct gnttab_transfer op = {.mfn = gfn, .domid = (domid_t)to, .ref = ref,
				     .status = 0x7777};
	CHECK_EQ(gnt_core_transfer(e->c, self, &op, 1), 0);
	return op.status;
}

/* The page must stay: status bad_page and no change anywhere. */
static void keeps(struct env *e, struct gnt_domain *self, uint64_t gfn, uint32_t to,
		  grant_ref_t ref, int line)
{
	struct fx_snap s;
	int16_t st;

	fx_snap(e->c, &s);
	st = xfer(e, self, gfn, to, ref);
	if (st != GNTST_bad_page)
		gnt__test_fail(__FILE__, line, "transfer gfn %#llx: status %d, expected bad_page",
			       (unsigned long long)gfn, st);
	if (!fx_snap_same(e->c, &s))
		gnt__test_fail(__FILE__, line, "bad_page transfer changed state");
}
#define KEEPS(e, self, gfn, to, ref) keeps((e), (self), (gfn), (to), (ref), __LINE__)

/* The transfer must fail with `want` and the sender lose the page: it leaves
 * the sender's memory and accounting, the receiver gets nothing. */
static void loses(struct env *e, uint32_t to, grant_ref_t ref, int16_t want, int line)
{
	uint64_t s_tot = e->s->tot_pages, r_tot = e->r->tot_pages, r_next = e->r->next_gfn;
	long units = fk.units_live;
	grant_entry_v1_t before = e->r->table[REF];
	int16_t st = xfer(e, e->s, e->gfn, to, ref);

	if (st != want)
		gnt__test_fail(__FILE__, line, "transfer: status %d, expected %d", st, want);
	if (gnt_core_unit_of_gfn(e->s, e->gfn, NULL) || e->s->tot_pages != s_tot - 1 ||
	    fk.units_live != units - 1)
		gnt__test_fail(__FILE__, line, "failed transfer (%d): the sender kept its page", st);
	if (e->r->tot_pages != r_tot || e->r->next_gfn != r_next ||
	    memcmp(&before, &e->r->table[REF], sizeof(before)))
		gnt__test_fail(__FILE__, line, "failed transfer (%d) reached the receiver", st);
}
#define LOSES(e, to, ref, want) loses((e), (to), (ref), (want), __LINE__)

TEST(transfer_moves_page_and_accounting)
{
	struct env e = env();
	uint64_t s_tot = e.s->tot_pages, r_tot = e.r->tot_pages, gfn;
	long units = fk.units_live;
	struct gnt_unit *u;

	CHECK_EQ(xfer(&e, e.s, e.gfn, e.r->id, REF), GNTST_okay);
	CHECK_EQ(fx_flags(e.r, REF), GTF_accept_transfer | GTF_transfer_committed |
					     GTF_transfer_completed);
	gfn = e.r->table[REF].frame;
	u = gnt_core_unit_of_gfn(e.r, gfn, NULL);
	CHECK(u != NULL);
	CHECK_EQ(u->owner, e.r->id);
	CHECK_EQ(u->npages, 1);
	CHECK_EQ(fx_mem(e.r, gfn)[0], 0x5a);
	CHECK_EQ(fx_mem(e.r, gfn)[GNT_PAGE_SIZE - 1], 0x5a);
	/* the sender has nothing left of it */
	CHECK(gnt_core_unit_of_gfn(e.s, e.gfn, NULL) == NULL);
	CHECK_EQ(e.s->tot_pages, s_tot - 1);
	CHECK_EQ(e.r->tot_pages, r_tot + 1);
	CHECK_EQ(fk.units_live, units); /* one unit went, one came */
	/* the new frame is the receiver's memory like any other: it can grant it */
	fx_grant(e.r, 30, e.x->id, gfn, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.x, e.r->id, 30, FX_RO, NULL), GNTST_okay);
	/* and a transfer to oneself works too */
	gfn = fx_alloc(e.c, e.s, 1);
	fx_grant(e.s, 40, e.s->id, 0, GTF_accept_transfer);
	CHECK_EQ(xfer(&e, e.s, gfn, e.s->id, 40), GNTST_okay);
	CHECK(e.s->table[40].frame != (uint32_t)gfn);
	fx_destroy(e.c);
}

TEST(transfer_keeps_page_only_on_bad_page)
{
	struct env e = env();
	uint64_t big = fx_alloc(e.c, e.s, 2), gone = fx_alloc(e.c, e.s, 1);
	struct xen_memory_reservation dr = {.nr_extents = 1, .domid = DOMID_SELF};

	CHECK_EQ(gnt_core_decrease(e.c, e.s, &dr, &gone), 1);

	KEEPS(&e, e.s, 0, e.r->id, REF);              /* no such gfn */
	KEEPS(&e, e.s, e.gfn + 0x10000, e.r->id, REF);
	KEEPS(&e, e.s, ((uint64_t)1 << 40), e.r->id, REF); /* a grant-table frame */
	KEEPS(&e, e.s, gone, e.r->id, REF);           /* given back already */
	KEEPS(&e, e.s, big, e.r->id, REF);            /* a page of a 2-page unit */
	KEEPS(&e, e.s, big + 1, e.r->id, REF);
	/* bad_page comes first: a bad domain or ref does not matter then */
	KEEPS(&e, e.s, 0, 0x7777, 99999);
	fx_destroy(e.c);
}

TEST(transfer_refuses_mapped_page)
{
	struct env e = env();
	grant_handle_t h;

	/* granted and mapped by x: Xen's steal_page fails (extra reference) */
	fx_grant(e.s, 10, e.x->id, e.gfn, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.x, e.s->id, 10, FX_RO, &h), GNTST_okay);
	KEEPS(&e, e.s, e.gfn, e.r->id, REF);
	CHECK_EQ(fx_busy(e.s, 10), GTF_reading); /* the mapping is intact */
	CHECK_EQ(fx_unmap(e.c, e.x, h, 0, 0), GNTST_okay);
	/* unmapped: now it goes (a grant alone is no reference, as in Xen) */
	CHECK_EQ(xfer(&e, e.s, e.gfn, e.r->id, REF), GNTST_okay);
	/* the old grant names a gfn the sender no longer has */
	CHECK_EQ(fx_map(e.c, e.x, e.s->id, 10, FX_RO, NULL), GNTST_bad_page);
	fx_destroy(e.c);
}

TEST(transfer_loses_page_on_bad_domain)
{
	struct env e = env();

	LOSES(&e, 0x7777, REF, GNTST_bad_domain);
	e.gfn = fx_alloc(e.c, e.s, 1);
	LOSES(&e, DOMID_SELF, REF, GNTST_bad_domain);
	e.gfn = fx_alloc(e.c, e.s, 1);
	LOSES(&e, 0xFFFF, REF, GNTST_bad_domain);
	fx_destroy(e.c);
}

TEST(transfer_loses_page_on_bad_entry)
{
	struct env e = env();
	static const uint16_t bad_flags[] = {
		GTF_invalid, GTF_permit_access, GTF_transitive,
		GTF_accept_transfer | GTF_transfer_committed,
		GTF_accept_transfer | GTF_transfer_completed,
		GTF_accept_transfer | GTF_readonly | GTF_transfer_completed,
		GTF_accept_transfer | 0x100,
	};

	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		fx_grant(e.r, REF, e.s->id, 0, bad_flags[i]);
		LOSES(&e, e.r->id, REF, GNTST_general_error);
		e.gfn = fx_alloc(e.c, e.s, 1);
	}
	fx_grant(e.r, REF, e.x->id, 0, GTF_accept_transfer); /* for someone else */
	LOSES(&e, e.r->id, REF, GNTST_general_error);
	e.gfn = fx_alloc(e.c, e.s, 1);
	fx_grant(e.r, REF, e.s->id, 0, GTF_accept_transfer);
	/* refs beyond the receiver's table (1 frame of 4) */
	LOSES(&e, e.r->id, GNT_ENTRIES_PER_FRAME, GNTST_general_error);
	e.gfn = fx_alloc(e.c, e.s, 1);
	LOSES(&e, e.r->id, UINT32_MAX, GNTST_general_error);
	/* the good entry was never touched */
	CHECK_EQ(fx_flags(e.r, REF), GTF_accept_transfer);
	fx_destroy(e.c);
}

TEST(transfer_respects_receiver_limit)
{
	struct env e = env();

	/* the receiver at max_pages - 1: one more fits */
	e.r = fx_dom_lim(e.c, "small", FX_GRANT_FRAMES, FX_MAPTRACK_FRAMES, 2);
	fx_alloc(e.c, e.r, 1);
	fx_grant(e.r, REF + 1, e.s->id, 0, GTF_accept_transfer);
	CHECK_EQ(xfer(&e, e.s, e.gfn, e.r->id, REF + 1), GNTST_okay);
	CHECK_EQ(e.r->tot_pages, 2);
	/* at max_pages: refused, the sender loses the page, the entry stays */
	e.gfn = fx_alloc(e.c, e.s, 1);
	fx_grant(e.r, REF, e.s->id, 0, GTF_accept_transfer);
	LOSES(&e, e.r->id, REF, GNTST_general_error);
	CHECK_EQ(e.r->tot_pages, 2);
	CHECK_EQ(fx_flags(e.r, REF), GTF_accept_transfer);
	fx_destroy(e.c);
}

TEST(transfer_refuses_dying_receiver)
{
	struct env e = env();
	struct gnt_domain *m = fx_dom(e.c, "mapper");
	uint64_t g = fx_alloc(e.c, e.r, 1);

	/* keep r as a zombie: m maps one of its grants */
	fx_grant(e.r, 11, m->id, g, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, m, e.r->id, 11, FX_RO, NULL), GNTST_okay);
	gnt__core_domain_release(e.c, e.r);
	CHECK_EQ(e.r->state, GNT_DOM_DYING);
	LOSES(&e, e.r->id, REF, GNTST_general_error);
	fx_destroy(e.c);
}

TEST(transfer_address_too_big)
{
	struct env e = env();

	/* the receiver's next gfn no longer fits a v1 entry's 32-bit frame */
	e.r->next_gfn = (uint64_t)UINT32_MAX + 1;
	LOSES(&e, e.r->id, REF, GNTST_address_too_big);
	CHECK_EQ(fx_flags(e.r, REF), GTF_accept_transfer);
	fx_destroy(e.c);
}

TEST(transfer_allocation_failure_loses_page)
{
	struct env e = env();

	fk.fail_unit_alloc_at = fk.units_total + 1;
	LOSES(&e, e.r->id, REF, GNTST_general_error);
	fk.fail_unit_alloc_at = 0;
	e.gfn = fx_alloc(e.c, e.s, 1);
	fk.fail_copy = true;
	LOSES(&e, e.r->id, REF, GNTST_general_error);
	fk.fail_copy = false;
	fx_destroy(e.c);
}

TEST(transfer_batch_mixed)
{
	struct env e = env();
	uint64_t g2 = fx_alloc(e.c, e.s, 1), g3 = fx_alloc(e.c, e.s, 1);
	uint64_t s_tot = e.s->tot_pages, r_tot = e.r->tot_pages;
	struct gnttab_transfer ops[5] = {
		{.mfn = e.gfn, .domid = e.r->id, .ref = REF},      /* ok */
		{.mfn = e.gfn, .domid = e.r->id, .ref = REF + 1},  /* gone already */
		{.mfn = g2, .domid = e.r->id, .ref = REF},         /* entry used up */
		{.mfn = 5, .domid = e.r->id, .ref = REF + 1},      /* bogus gfn */
		{.mfn = g3, .domid = e.r->id, .ref = REF + 1},     /* ok */
	};

	fx_grant(e.r, REF + 1, e.s->id, 0, GTF_accept_transfer);
	CHECK_EQ(gnt_core_transfer(e.c, e.s, ops, 5), 0);
	CHECK_EQ(ops[0].status, GNTST_okay);
	CHECK_EQ(ops[1].status, GNTST_bad_page);
	CHECK_EQ(ops[2].status, GNTST_general_error);
	CHECK_EQ(ops[3].status, GNTST_bad_page);
	CHECK_EQ(ops[4].status, GNTST_okay);
	CHECK_EQ(e.s->tot_pages, s_tot - 3);
	CHECK_EQ(e.r->tot_pages, r_tot + 2);
	CHECK(e.r->table[REF].frame != e.r->table[REF + 1].frame);
	fx_destroy(e.c);
}

TEST(transfer_sender_release_after)
{
	struct env e = env();

	CHECK_EQ(xfer(&e, e.s, e.gfn, e.r->id, REF), GNTST_okay);
	/* the sender dies; the receiver's page is its own */
	gnt__core_domain_release(e.c, e.s);
	CHECK_EQ(fx_mem(e.r, e.r->table[REF].frame)[7], 0x5a);
	gnt__core_domain_release(e.c, e.x);
	gnt__core_domain_release(e.c, e.r);
	CHECK(fx_stats_idle(e.c));
	fx_destroy(e.c);
}

/* A v2 receiver: the accept entry is a 16-byte entry (flags in its header,
 * the new gfn in full_page.frame, all 64 bits of it: no 32-bit limit), and
 * refs are bounded by 256 entries a frame. */
TEST(transfer_into_v2_table)
{
	struct env e = env();
	struct gnttab_set_version sv = {.version = 2};
	grant_entry_v2_t *t;
	uint64_t big = (uint64_t)UINT32_MAX + 7;
	uint32_t nr;

	CHECK_EQ(gnt_core_set_version(e.c, e.r, &sv), 0);
	t = (grant_entry_v2_t *)(void *)e.r->table;
	nr = gnt_core_nr_entries(e.r);
	CHECK_EQ(nr, e.r->nr_frames * GNT_V2_ENTRIES_PER_FRAME);
	__atomic_store_n(&t[REF].hdr.domid, e.s->id, __ATOMIC_RELAXED);
	__atomic_store_n(&t[REF].hdr.flags, (uint16_t)GTF_accept_transfer, __ATOMIC_RELEASE);
	e.r->next_gfn = big;
	CHECK_EQ(xfer(&e, e.s, e.gfn, e.r->id, REF), GNTST_okay);
	CHECK_EQ(t[REF].hdr.flags,
		 GTF_accept_transfer | GTF_transfer_committed | GTF_transfer_completed);
	CHECK_EQ(t[REF].full_page.frame, big);
	CHECK_EQ(fx_mem(e.r, big)[0], 0x5a);
	/* an accept entry just past the v2 bound (within v1's) is no entry */
	CHECK(e.r->max_frames > e.r->nr_frames);
	__atomic_store_n(&t[nr].hdr.domid, e.s->id, __ATOMIC_RELAXED);
	__atomic_store_n(&t[nr].hdr.flags, (uint16_t)GTF_accept_transfer, __ATOMIC_RELEASE);
	e.gfn = fx_alloc(e.c, e.s, 1);
	LOSES(&e, e.r->id, nr, GNTST_general_error);
	CHECK_EQ(t[nr].hdr.flags, GTF_accept_transfer);
	fx_destroy(e.c);
}
