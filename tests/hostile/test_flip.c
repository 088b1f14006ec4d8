/* SPDX-License-Identifier: MIT */
/*
 * A granter that rewrites its own grant entries (flags, domid, frame, and
 * gntd's GTF_reading/GTF_writing bits) from a thread, as fast as it can,
 * through its raw table mapping, while the grantee maps, reads, copies and
 * unmaps those grants in a loop.  gntd must not crash, must answer only
 * okay / general_error / bad_page, every okay mapping must show one of the
 * granted pages (each is tagged) and, if made read-only, must not be
 * writable, every okay mapping must unmap okay, and once both stop no pin,
 * mapping or exposure may be left.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"

#define NREFS 6 /* 4 pages of one unit, 2 single pages (the last read-only) */
#define RUN_MS 1000

struct flip {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b, c;
};

struct flipper {
	grant_entry_v1_t *tbl;
	grant_ref_t refs[NREFS];
	uint32_t gfns[NREFS];
	uint16_t b, c;
	volatile int stop;
	uint64_t writes;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *flip_thread(void *p)
{
	struct flipper *f = p;
	uint64_t s = 0x9e3779b97f4a7c15ull;

	while (!f->stop) {
		uint64_t r = rnd(&s);
		uint32_t i = (uint32_t)(r % NREFS);
		grant_entry_v1_t *e = &f->tbl[f->refs[i]];
		uint16_t legit =
		    (uint16_t)(GTF_permit_access | (i == NREFS - 1 ? GTF_readonly : 0));
		uint16_t flags = legit, dom = f->b;
		uint32_t frame = f->gfns[i];
		static const uint16_t doms[] = {0, DOMID_SELF, DOMID_IDLE, 0xFFFF};

		switch ((r >> 8) % 12) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 4:
			break; /* the honest entry, often, so that maps do succeed */
		case 5:
			frame = f->gfns[(r >> 16) % NREFS]; /* another granted page */
			break;
		case 6:
			frame = (r >> 16) & 1 ? 5 : f->gfns[0] + 100; /* not our memory */
			break;
		case 7:
			flags = (uint16_t)(r >> 16); /* anything, even gntd's bits */
			break;
		case 8:
			dom = (r >> 16) & 1 ? f->c : doms[(r >> 17) % 4];
			break;
		case 9:
			flags = 0; /* revoke, pinned or not */
			break;
		case 10:
			flags = (uint16_t)(legit | GTF_reading | GTF_writing);
			break;
		case 11:
			/* flip read-only under a pin, keeping what gntd set */
			__atomic_fetch_xor(&e->flags, (uint16_t)GTF_readonly, __ATOMIC_SEQ_CST);
			f->writes++;
			continue;
		}
		__atomic_store_n(&e->frame, frame, __ATOMIC_RELAXED);
		/* flags and domid as one word, as gntd reads them */
		__atomic_store_n((uint32_t *)(void *)e, (uint32_t)flags | (uint32_t)dom << 16,
				 __ATOMIC_RELEASE);
		f->writes++;
	}
	return NULL;
}

static void granter(void *p)
{
	struct flip *s = p;
	static struct flipper f;
	char *unit = gnt_alloc_pages(4), *p1 = gnt_alloc_page(), *p2 = gnt_alloc_page();
	char *pages[NREFS] = {
	    unit, unit + GNT_PAGE_SIZE, unit + 2 * GNT_PAGE_SIZE, unit + 3 * GNT_PAGE_SIZE, p1, p2};
	uint32_t nframes;
	pthread_t t;

	CHECK(unit && p1 && p2);
	for (int i = 0; i < NREFS; i++) {
		int r;
		snprintf(pages[i], 32, "page %d", i);
		f.gfns[i] = (uint32_t)gnt_virt_to_gfn(pages[i]);
		r = gnt_grant_foreign_access((domid_t)s->b, f.gfns[i], i == NREFS - 1);
		CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
		f.refs[i] = (grant_ref_t)r;
	}
	f.tbl = th_raw_table(&nframes);
	f.b = (uint16_t)s->b;
	f.c = (uint16_t)s->c;
	th_send(&s->to_b, f.refs, sizeof(f.refs));
	CHECK(pthread_create(&t, NULL, flip_thread, &f) == 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* the mapper is done */
	f.stop = 1;
	pthread_join(t, NULL);
	CHECK(f.writes > 1000);
	for (int i = 0; i < NREFS; i++)
		__atomic_store_n((uint32_t *)(void *)&f.tbl[f.refs[i]], 0, __ATOMIC_SEQ_CST);
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(th_recv_u32(&s->to_a), 2);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A mapping shows one of the granted pages (the entry may have been turned
 * to another one), and one made read-only stays so, however the flags were
 * flipped around it (security-anchors §5 item 2). */
static void check_mapping(char *va, uint32_t flags)
{
	char tag[16];
	int page = -1;

	memcpy(tag, va, sizeof(tag));
	tag[sizeof(tag) - 1] = 0;
	if (sscanf(tag, "page %d", &page) != 1 || page < 0 || page >= NREFS)
		FAIL("a mapping shows \"%s\", not a granted page", tag);
	if (flags & GNTMAP_readonly)
		CHECK(!th_can_write(va));
}

static void mapper(void *p)
{
	struct flip *s = p;
	grant_ref_t refs[NREFS];
	struct gnttab_map_grant_ref ops[NREFS];
	struct gnttab_unmap_grant_ref un[NREFS];
	struct gnttab_copy cp;
	char *va = gnt_alloc_ballooned_pages(NREFS), *mine = gnt_alloc_page();
	uint32_t okay = 0, failed = 0, iters = 0, copies = 0;
	long t0 = now_ms();

	CHECK(va && mine);
	th_recv(&s->to_b, refs, sizeof(refs));
	while (now_ms() - t0 < RUN_MS || iters < 200) {
		uint32_t n = 0;
		for (int i = 0; i < NREFS; i++)
			gnt_set_map_op(&ops[i], va + i * GNT_PAGE_SIZE,
				       GNTMAP_host_map |
					   ((iters + (uint32_t)i) % 3 ? GNTMAP_readonly : 0),
				       refs[i], (domid_t)s->a);
		CHECK_EQ(gnt_map_refs(ops, NREFS), 0);
		for (int i = 0; i < NREFS; i++) {
			int16_t st = ops[i].status;
			if (st != GNTST_okay && st != GNTST_general_error && st != GNTST_bad_page)
				FAIL("map ref %u: status %d", refs[i], st);
			if (st != GNTST_okay) {
				failed++;
				CHECK(!th_can_read(va + i * GNT_PAGE_SIZE));
				continue;
			}
			/* a mapping, whatever frame it latched, is readable */
			CHECK(th_can_read(va + i * GNT_PAGE_SIZE));
			check_mapping(va + i * GNT_PAGE_SIZE, ops[i].flags);
			gnt_set_unmap_op(&un[n++], va + i * GNT_PAGE_SIZE, 0, ops[i].handle);
			okay++;
		}
		memset(&cp, 0, sizeof(cp));
		cp.source.u.ref = refs[iters % NREFS];
		cp.source.domid = (domid_t)s->a;
		cp.dest.u.gmfn = gnt_virt_to_gfn(mine);
		cp.dest.domid = DOMID_SELF;
		cp.flags = GNTCOPY_source_gref;
		cp.len = 8;
		CHECK_EQ(gnt_grant_table_op(GNTTABOP_copy, &cp, 1), 0);
		if (cp.status != GNTST_okay && cp.status != GNTST_general_error &&
		    cp.status != GNTST_bad_page)
			FAIL("copy: status %d", cp.status);
		copies += cp.status == GNTST_okay;
		if (n) {
			CHECK_EQ(gnt_unmap_refs(un, n), 0);
			for (uint32_t k = 0; k < n; k++)
				CHECK_EQ(un[k].status, GNTST_okay);
		}
		iters++;
	}
	/* GNT_TEST_VERBOSE=1 shows how much each outcome was exercised */
	if (getenv("GNT_TEST_VERBOSE"))
		fprintf(stderr, "  %u rounds: %u maps okay, %u failed, %u copies okay\n", iters,
			okay, failed, copies);
	CHECK(okay > 0);   /* the honest windows were used */
	CHECK(failed > 0); /* and the flipping was felt */
	gnt_free_page(mine);
	th_send_u32(&s->to_a, 1);
}

TEST(granter_rewriting_entries_during_map_unmap)
{
	static struct gnt_grant_dump g[64];
	struct flip s;
	struct gnt_hv_stats start, st;
	pid_t pa, pb;
	int n;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	s.c = th_domain("C");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 1);
	/* both stopped: nothing pinned, mapped or exposed.  gntd releases the
	 * mapper's parked exposures when it has seen the mapper's domain die
	 * (or 2 ms after the last unmap): give it that moment */
	for (int i = 0; i < 500; i++) {
		st = th_stats();
		if (!st.exposures)
			break;
		usleep(10000);
	}
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(st.exposures, 0);
	CHECK_EQ(th_dominfo(s.a).pins, 0);
	n = gnt_domain_grants(s.a, g, 64);
	CHECK(n >= 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(g[i].rd_pins + g[i].wr_pins, 0);
		CHECK_EQ(g[i].pinned_by, DOMID_INVALID);
	}
	th_send_u32(&s.to_a, 2);
	CHECK_EQ(th_wait(pa), 0);
	th_share_fresh(); /* gntd is fine */
	CHECK_EQ(gnt_domain_destroy(s.c), 0);
	th_expect_stats(&start, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}
