/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_swap.c - GNTTABOP_swap_grant_ref in the core, as Xen's
 * gnttab_swap_grant_ref: two entries of the caller's own table change
 * places (v1 entries; v2 entries with their status words), a map through
 * either ref then finds what the other one granted; refs out of range are
 * bad_gntref, an entry in use (pinned) is eagain, a ref swapped with itself
 * is okay; a refused op changes nothing, and each op of a batch stands
 * alone.
 */
#include "fixture.h"

#include <string.h>

struct env {
	struct gnt_core *c;
	struct gnt_domain *g, *m;
	uint64_t ga, gb; /* two one-page units of g */
};

static struct env env(void)
{
	struct env e;

	e.c = fx_core();
	e.g = fx_dom(e.c, "granter");
	e.m = fx_dom(e.c, "mapper");
	e.ga = fx_alloc(e.c, e.g, 1);
	e.gb = fx_alloc(e.c, e.g, 1);
	memset(fx_mem(e.g, e.ga), 'a', GNT_PAGE_SIZE);
	memset(fx_mem(e.g, e.gb), 'b', GNT_PAGE_SIZE);
	return e;
}

static int16_t swap(struct gnt_core *c, struct gnt_domain *d, grant_ref_t a, grant_ref_t b)
{
	struct gnttab_swap_grant_ref op = {.ref_a = a, .ref_b = b, .status = 99};

	CHECK_EQ(gnt_core_swap_grant_ref(c, d, &op, 1), 0);
	return op.status;
}

/* The swap must fail with `want` and leave everything as it was. */
static void swap_fails(struct env *e, grant_ref_t a, grant_ref_t b, int16_t want, int line)
{
	struct fx_snap s;
	int16_t st;

	fx_snap(e->c, &s);
	st = swap(e->c, e->g, a, b);
	if (st != want)
		gnt__test_fail(__FILE__, line, "swap %u %u: status %d, expected %d", a, b, st,
			       want);
	if (!fx_snap_same(e->c, &s))
		gnt__test_fail(__FILE__, line, "refused swap (status %d) changed state", want);
}
#define SWAP_FAILS(e, a, b, want) swap_fails((e), (a), (b), (want), __LINE__)

/* What a read-only map of (g, ref) by m shows: the page's first byte, or 0
 * when the map fails. */
static uint8_t seen_through(struct env *e, grant_ref_t ref)
{
	struct fx_map r = fx_map_op(e->c, e->m, e->g->id, ref, FX_RO, 0x1000);
	uint8_t b;

	if (r.status != GNTST_okay)
		return 0;
	b = fake_page(r.unit, r.page)[0];
	CHECK_EQ(fx_unmap(e->c, e->m, r.handle, 0x1000, 0), GNTST_okay);
	return b;
}

TEST(swap_v1_entries_change_places)
{
	struct env e = env();
	grant_entry_v1_t ea, eb;

	fx_grant(e.g, 10, e.m->id, e.ga, GTF_permit_access | GTF_readonly);
	fx_grant(e.g, 20, e.m->id, e.gb, GTF_permit_access);
	ea = e.g->table[10];
	eb = e.g->table[20];
	CHECK_EQ(seen_through(&e, 10), 'a');
	CHECK_EQ(swap(e.c, e.g, 10, 20), GNTST_okay);
	CHECK(!memcmp(&e.g->table[10], &eb, sizeof(eb)));
	CHECK(!memcmp(&e.g->table[20], &ea, sizeof(ea)));
	CHECK_EQ(seen_through(&e, 10), 'b');
	CHECK_EQ(seen_through(&e, 20), 'a');
	/* the read-only flag moved with its entry */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 20, FX_RW, NULL), GNTST_general_error);
	/* an unused entry swaps too: ref 10 becomes free, 30 takes its grant */
	CHECK_EQ(swap(e.c, e.g, 10, 30), GNTST_okay);
	CHECK_EQ(fx_flags(e.g, 10), 0);
	CHECK_EQ(seen_through(&e, 30), 'b');
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 10, FX_RO, NULL), GNTST_general_error);
	fx_destroy(e.c);
}

TEST(swap_refused_changes_nothing)
{
	struct env e = env();
	uint32_t n = gnt_core_nr_entries(e.g);
	grant_handle_t h;

	fx_grant(e.g, 10, e.m->id, e.ga, GTF_permit_access);
	fx_grant(e.g, 20, e.m->id, e.gb, GTF_permit_access);
	/* out of range, either side, however far */
	SWAP_FAILS(&e, 10, n, GNTST_bad_gntref);
	SWAP_FAILS(&e, n, 10, GNTST_bad_gntref);
	SWAP_FAILS(&e, 0xFFFFFFFFu, 10, GNTST_bad_gntref);
	SWAP_FAILS(&e, n, n, GNTST_bad_gntref); /* range first, then a == b */
	/* in use: pinned by a mapping, on either side */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 10, FX_RW, &h), GNTST_okay);
	SWAP_FAILS(&e, 10, 20, GNTST_eagain);
	SWAP_FAILS(&e, 20, 10, GNTST_eagain);
	/* a ref with itself: okay, nothing moves, pinned or not */
	SWAP_FAILS(&e, 10, 10, GNTST_okay);
	SWAP_FAILS(&e, 20, 20, GNTST_okay);
	/* unmapped, it moves */
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	CHECK_EQ(swap(e.c, e.g, 10, 20), GNTST_okay);
	CHECK_EQ(seen_through(&e, 10), 'b');
	fx_destroy(e.c);
}

TEST(swap_batch_ops_stand_alone)
{
	struct env e = env();
	grant_handle_t h;
	struct gnttab_swap_grant_ref ops[4] = {
		{.ref_a = 10, .ref_b = 11}, /* okay */
		{.ref_a = 12, .ref_b = 1u << 30}, /* bad_gntref */
		{.ref_a = 13, .ref_b = 14}, /* eagain: 13 is mapped */
		{.ref_a = 11, .ref_b = 15}, /* okay, after the first */
	};

	fx_grant(e.g, 10, e.m->id, e.ga, GTF_permit_access);
	fx_grant(e.g, 13, e.m->id, e.gb, GTF_permit_access);
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 13, FX_RO, &h), GNTST_okay);
	CHECK_EQ(gnt_core_swap_grant_ref(e.c, e.g, ops, 4), 0);
	CHECK_EQ(ops[0].status, GNTST_okay);
	CHECK_EQ(ops[1].status, GNTST_bad_gntref);
	CHECK_EQ(ops[2].status, GNTST_eagain);
	CHECK_EQ(ops[3].status, GNTST_okay);
	/* 10's grant went to 11, then on to 15 */
	CHECK_EQ(seen_through(&e, 15), 'a');
	CHECK_EQ(fx_flags(e.g, 10), 0);
	CHECK_EQ(fx_flags(e.g, 11), 0);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	fx_destroy(e.c);
}

TEST(swap_v2_entries_and_status_words)
{
	struct env e = env();
	struct gnttab_set_version v = {.version = 2};
	grant_entry_v2_t *t;
	grant_handle_t h;

	CHECK_EQ(gnt_core_set_version(e.c, e.g, &v), 0);
	t = (grant_entry_v2_t *)(void *)e.g->table;
	t[10].full_page.frame = e.ga;
	t[10].hdr.domid = (domid_t)e.m->id;
	__atomic_store_n(&t[10].hdr.flags, GTF_permit_access, __ATOMIC_RELEASE);
	t[20].sub_page.frame = e.gb;
	t[20].sub_page.page_off = 128;
	t[20].sub_page.length = 256;
	t[20].hdr.domid = (domid_t)e.m->id;
	__atomic_store_n(&t[20].hdr.flags, GTF_permit_access | GTF_sub_page, __ATOMIC_RELEASE);
	/* a status word left by an earlier use moves with its entry */
	e.g->status[20] = GTF_reading;
	CHECK_EQ(swap(e.c, e.g, 10, 20), GNTST_okay);
	CHECK_EQ(t[10].hdr.flags, GTF_permit_access | GTF_sub_page);
	CHECK_EQ(t[10].sub_page.page_off, 128);
	CHECK_EQ(t[10].sub_page.length, 256);
	CHECK_EQ(t[20].full_page.frame, e.ga);
	CHECK_EQ(e.g->status[10], GTF_reading);
	CHECK_EQ(e.g->status[20], 0);
	e.g->status[10] = 0;
	CHECK_EQ(seen_through(&e, 20), 'a');
	/* pinned in v2 refuses too */
	CHECK_EQ(fx_map(e.c, e.m, e.g->id, 20, FX_RO, &h), GNTST_okay);
	SWAP_FAILS(&e, 10, 20, GNTST_eagain);
	CHECK_EQ(fx_unmap(e.c, e.m, h, 0, 0), GNTST_okay);
	/* v2 has half the entries per frame: the range follows the version */
	SWAP_FAILS(&e, 10, gnt_core_nr_entries(e.g), GNTST_bad_gntref);
	fx_destroy(e.c);
}
