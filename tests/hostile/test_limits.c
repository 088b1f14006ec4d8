/* SPDX-License-Identifier: MIT */
/*
 * A mapper pushing gntd's per-grant and per-domain limits: one grant mapped
 * 300 times (8-bit pin counter), a domain with one maptrack frame (256
 * mappings), and two threads unmapping the same handles at once.  Every
 * excess op fails alone with Xen's status, and everything unmaps cleanly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../helpers.h"

struct lim {
	struct th_chan to_a, to_b, to_t, t_to_b;
	uint32_t a, b;
	uint32_t npages; /* granted pages (one unit) */
	int ro;
};

static void granter(void *p)
{
	struct lim *s = p;
	char *buf = gnt_alloc_pages(s->npages);
	grant_ref_t *refs = calloc(s->npages, sizeof(*refs));

	CHECK(buf && refs);
	for (uint32_t i = 0; i < s->npages; i++) {
		int r;
		strcpy(buf + (size_t)i * GNT_PAGE_SIZE, "limits");
		r = gnt_grant_foreign_access(
		    (domid_t)s->b, gnt_virt_to_gfn(buf + (size_t)i * GNT_PAGE_SIZE), s->ro);
		CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
		refs[i] = (grant_ref_t)r;
	}
	th_send(&s->to_t, refs, s->npages * sizeof(*refs));
	th_send(&s->to_b, refs, s->npages * sizeof(*refs));
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	for (uint32_t i = 0; i < s->npages; i++)
		CHECK_EQ(gnt_try_end_foreign_access(refs[i]), 1);
	gnt_free_pages(buf, s->npages);
	free(refs);
}

static void start(struct lim *s, const struct gnt_domain_config *bcfg, void (*fn)(void *),
		  pid_t *pa, pid_t *pb)
{
	s->a = th_domain("A");
	s->b = th_domain_cfg("B", bcfg);
	th_chan_open(&s->to_a);
	th_chan_open(&s->to_b);
	th_chan_open(&s->to_t);
	th_chan_open(&s->t_to_b);
	*pa = th_spawn(s->a, granter, s);
	*pb = th_spawn(s->b, fn, s);
}

static void stop(struct lim *s)
{
	th_chan_close(&s->to_a);
	th_chan_close(&s->to_b);
	th_chan_close(&s->to_t);
	th_chan_close(&s->t_to_b);
}

/* ---- one grant, 300 mappings ----------------------------------------------- */

#define TIMES 300
/* Xen's pin counters are 8 bits; map_grant_ref refuses a new pin once a
 * counter has bit 7 set (4.17: `act->pin & 0x80808080U`), so 128 mappings
 * of one grant fit.  gnt's exposure pins are counted apart from these. */
#define MAPS_FIT 128

static void overmapper(void *p)
{
	struct lim *s = p;
	static struct gnttab_map_grant_ref ops[TIMES];
	static struct gnttab_unmap_grant_ref un[TIMES];
	char *va = gnt_alloc_ballooned_pages(TIMES);
	grant_ref_t ref;
	uint32_t ok = 0, n = 0;

	CHECK(va);
	th_recv(&s->to_b, &ref, sizeof(ref));
	for (uint32_t i = 0; i < TIMES; i++)
		gnt_set_map_op(&ops[i], va + (size_t)i * GNT_PAGE_SIZE,
			       GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(ops, TIMES), 0);
	for (uint32_t i = 0; i < TIMES; i++) {
		if (i < MAPS_FIT) {
			CHECK_EQ(ops[i].status, GNTST_okay);
			CHECK(!strcmp(va + (size_t)i * GNT_PAGE_SIZE, "limits"));
			ok++;
		} else {
			/* the excess fails alone: no handle, no mapping */
			CHECK_EQ(ops[i].status, GNTST_general_error);
			CHECK_EQ(ops[i].handle, INVALID_GRANT_HANDLE);
			CHECK(!th_can_read(va + (size_t)i * GNT_PAGE_SIZE));
		}
	}
	th_send_u32(&s->to_t, ok);
	CHECK_EQ(th_recv_u32(&s->t_to_b), 1);
	/* Xen 4.17 refuses every new pin while any counter is that full: a
	 * writable map, and a copy (which pins too) */
	{
		struct gnttab_map_grant_ref w;
		struct gnttab_copy cp;
		char *mine = gnt_alloc_page();
		CHECK(mine);
		gnt_set_map_op(&w, va + (size_t)(TIMES - 1) * GNT_PAGE_SIZE, GNTMAP_host_map, ref,
			       (domid_t)s->a);
		CHECK_EQ(gnt_map_refs(&w, 1), 0);
		CHECK_EQ(w.status, GNTST_general_error);
		memset(&cp, 0, sizeof(cp));
		cp.source.u.ref = ref;
		cp.source.domid = (domid_t)s->a;
		cp.dest.u.gmfn = gnt_virt_to_gfn(mine);
		cp.dest.domid = DOMID_SELF;
		cp.flags = GNTCOPY_source_gref;
		cp.len = 6;
		CHECK_EQ(gnt_grant_table_op(GNTTABOP_copy, &cp, 1), 0);
		CHECK_EQ(cp.status, GNTST_general_error);
		CHECK_EQ(mine[0], 0);
		gnt_free_page(mine);
	}
	/* one back, one more, then full again */
	gnt_set_unmap_op(&un[0], va, 0, ops[0].handle);
	CHECK_EQ(gnt_unmap_refs(un, 1), 0);
	CHECK_EQ(un[0].status, GNTST_okay);
	gnt_set_map_op(&ops[0], va, GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)s->a);
	gnt_set_map_op(&ops[MAPS_FIT], va + (size_t)MAPS_FIT * GNT_PAGE_SIZE,
		       GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(ops, 1), 0);
	CHECK_EQ(ops[0].status, GNTST_okay);
	CHECK_EQ(gnt_map_refs(&ops[MAPS_FIT], 1), 0);
	CHECK_EQ(ops[MAPS_FIT].status, GNTST_general_error);
	/* everything unmaps cleanly, in one batch */
	for (uint32_t i = 0; i < MAPS_FIT; i++)
		gnt_set_unmap_op(&un[n++], va + (size_t)i * GNT_PAGE_SIZE, 0, ops[i].handle);
	CHECK_EQ(gnt_unmap_refs(un, n), 0);
	for (uint32_t i = 0; i < n; i++)
		CHECK_EQ(un[i].status, GNTST_okay);
	th_send_u32(&s->to_t, 2);
	th_send_u32(&s->to_a, 1);
}

TEST(same_grant_mapped_300_times_pin_overflow)
{
	struct lim s = {.npages = 1, .ro = 0};
	struct gnt_hv_stats st0, st;
	struct gnt_grant_dump g[4];
	grant_ref_t ref;
	pid_t pa, pb;

	th_gntd_start();
	st0 = th_stats();
	start(&s, NULL, overmapper, &pa, &pb);
	th_recv(&s.to_t, &ref, sizeof(ref));
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), MAPS_FIT);
	st = th_stats();
	CHECK_EQ(st.mappings, MAPS_FIT);
	CHECK_EQ(gnt_domain_grants(s.a, g, 4), 1);
	CHECK_EQ(g[0].ref, ref);
	CHECK_EQ(g[0].rd_pins, MAPS_FIT); /* one per mapping: full, not wrapped */
	CHECK_EQ(g[0].wr_pins, 0);
	CHECK_EQ(g[0].pinned_by, s.b);
	th_send_u32(&s.t_to_b, 1);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 2);
	st = th_stats();
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&st0, 5000);
	stop(&s);
	th_gntd_stop();
}

/* ---- maptrack: one frame, 256 mappings ------------------------------------- */

#define MT_LIMIT 256 /* max_maptrack_frames 1 x 256 entries (Xen: 16-byte entries) */
#define NGRANTS 300

static void map_all(struct lim *s, grant_ref_t *refs, char *va, struct gnttab_map_grant_ref *ops)
{
	for (uint32_t i = 0; i < NGRANTS; i++)
		gnt_set_map_op(&ops[i], va + (size_t)i * GNT_PAGE_SIZE, GNTMAP_host_map, refs[i],
			       (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(ops, NGRANTS), 0);
	for (uint32_t i = 0; i < NGRANTS; i++) {
		if (i < MT_LIMIT) {
			CHECK_EQ(ops[i].status, GNTST_okay);
			CHECK(ops[i].handle < MT_LIMIT);
		} else {
			CHECK_EQ(ops[i].status, GNTST_no_space);
			CHECK(!th_can_read(va + (size_t)i * GNT_PAGE_SIZE));
		}
	}
}

static void unmap_all(char *va, struct gnttab_map_grant_ref *ops)
{
	static struct gnttab_unmap_grant_ref un[MT_LIMIT];
	for (uint32_t i = 0; i < MT_LIMIT; i++)
		gnt_set_unmap_op(&un[i], va + (size_t)i * GNT_PAGE_SIZE, 0, ops[i].handle);
	CHECK_EQ(gnt_unmap_refs(un, MT_LIMIT), 0);
	for (uint32_t i = 0; i < MT_LIMIT; i++)
		CHECK_EQ(un[i].status, GNTST_okay);
}

static void maptrack_mapper(void *p)
{
	struct lim *s = p;
	static grant_ref_t refs[NGRANTS];
	static struct gnttab_map_grant_ref ops[NGRANTS];
	char *va = gnt_alloc_ballooned_pages(NGRANTS);

	CHECK(va);
	th_recv(&s->to_b, refs, sizeof(refs));
	map_all(s, refs, va, ops);
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(th_recv_u32(&s->t_to_b), 1);
	unmap_all(va, ops);
	/* the handles come back: the same again */
	map_all(s, refs, va, ops);
	unmap_all(va, ops);
	th_send_u32(&s->to_a, 1);
}

TEST(maptrack_exhaustion_is_no_space)
{
	struct lim s = {.npages = NGRANTS};
	struct gnt_domain_config cfg = {.max_maptrack_frames = 1};
	static grant_ref_t refs[NGRANTS];
	struct gnt_hv_stats st0, st;
	pid_t pa, pb;

	th_gntd_start();
	st0 = th_stats();
	start(&s, &cfg, maptrack_mapper, &pa, &pb);
	th_recv(&s.to_t, refs, sizeof(refs));
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
	st = th_stats();
	CHECK_EQ(st.mappings, MT_LIMIT);
	CHECK_EQ(th_dominfo(s.b).mappings, MT_LIMIT);
	CHECK_EQ(st.exposures, 1);
	th_send_u32(&s.t_to_b, 1);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&st0, 5000);
	stop(&s);
	th_gntd_stop();
}

/* ---- the same handles unmapped by two threads at once (XSA-218) ------------ */

#define NH 64

struct race {
	struct gnttab_unmap_grant_ref un[NH];
	uint32_t okay;
};

static void *unmapper(void *p)
{
	struct race *r = p;
	for (uint32_t i = 0; i < NH; i++) {
		CHECK_EQ(gnt_unmap_refs(&r->un[i], 1), 0);
		CHECK(r->un[i].status == GNTST_okay || r->un[i].status == GNTST_bad_handle);
		r->okay += r->un[i].status == GNTST_okay;
	}
	return NULL;
}

static void racer(void *p)
{
	struct lim *s = p;
	struct gnttab_map_grant_ref ops[NH];
	static struct race r[2];
	char *va = gnt_alloc_ballooned_pages(NH);
	grant_ref_t ref;
	pthread_t t[2];

	CHECK(va);
	th_recv(&s->to_b, &ref, sizeof(ref));
	for (int round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < NH; i++)
			gnt_set_map_op(&ops[i], va + (size_t)i * GNT_PAGE_SIZE,
				       GNTMAP_host_map | (i & 1 ? GNTMAP_readonly : 0), ref,
				       (domid_t)s->a);
		CHECK_EQ(gnt_map_refs(ops, NH), 0);
		for (int k = 0; k < 2; k++) {
			r[k].okay = 0;
			for (uint32_t i = 0; i < NH; i++)
				gnt_set_unmap_op(&r[k].un[i], NULL, 0, ops[i].handle);
		}
		for (int k = 0; k < 2; k++)
			CHECK(pthread_create(&t[k], NULL, unmapper, &r[k]) == 0);
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		/* each handle was unmapped exactly once */
		CHECK_EQ(r[0].okay + r[1].okay, NH);
		for (uint32_t i = 0; i < NH; i++)
			CHECK(!th_can_read(va + (size_t)i * GNT_PAGE_SIZE));
	}
	th_send_u32(&s->to_a, 1);
}

TEST(same_handles_unmapped_by_two_threads)
{
	struct lim s = {.npages = 1};
	struct gnt_hv_stats st0;
	grant_ref_t ref;
	pid_t pa, pb;

	th_gntd_start();
	st0 = th_stats();
	start(&s, NULL, racer, &pa, &pb);
	th_recv(&s.to_t, &ref, sizeof(ref));
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&st0, 5000);
	stop(&s);
	th_gntd_stop();
}

/* A process that attaches connection after connection: gntd refuses past
 * its per-domain limit (the new connection is closed), keeps serving, and
 * every descriptor comes back when the process goes. */
static void attach_flood(void *p)
{
	int *socks = calloc(400, sizeof(int)), ok = 0, refused = 0;
	int token = atoi(getenv("GNT_FD"));
	(void)p;

	CHECK(socks);
	for (int i = 0; i < 400 && !refused; i++) {
		struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_ATTACH, .nfds = 1};
		struct gnt_msg q = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_INFO};
		struct gnt_msg r;
		int sv[2], tfd = -1;
		unsigned int nfds = 1;
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		CHECK_EQ(th_raw_send(token, &m, NULL, 0, &sv[1], 1), 0);
		close(sv[1]);
		CHECK_EQ(th_raw_send(sv[0], &q, NULL, 0, NULL, 0), 0);
		int rc = th_raw_recv(sv[0], &r, NULL, 0, &tfd, &nfds, 5000);
		if (rc == 1) {
			CHECK_EQ(r.rc, 0);
			if (nfds)
				close(tfd);
			socks[ok++] = sv[0];
		} else {
			CHECK(rc == 0 || rc == -ECONNRESET); /* closed by gntd, no timeout */
			close(sv[0]);
			refused = 1;
		}
	}
	CHECK(refused);
	CHECK(ok >= 200 && ok < 256);
	for (int i = 0; i < ok; i++)
		close(socks[i]);
	free(socks);
}

TEST(attach_flood_hits_connection_limit)
{
	struct gnt_hv_stats s0;
	uint32_t a;

	th_gntd_start();
	s0 = th_stats();
	a = th_domain("flood");
	CHECK_EQ(th_wait(th_spawn(a, attach_flood, NULL)), 0);
	th_expect_stats(&s0, 5000); /* the domain died with its process */
	th_share_fresh();           /* and gntd still serves */
	th_gntd_stop();
}
