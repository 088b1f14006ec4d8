/* SPDX-License-Identifier: MIT */
/*
 * GNT_MSG_SHARE and gntdev's owned maps used against the rules: every bad
 * field gets its error and changes nothing, a malformed message drops only
 * its connection, and a share whose grant entry the domain rewrites after
 * handing it over is not ended by gntd (the entry is no longer the share's).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/gntdev.h"

struct hg {
	uint32_t a, b;
};

static int32_t share_rq(int fd, uint32_t op, uint64_t gfn, uint32_t count, const uint32_t *refs,
			uint32_t len_delta)
{
	uint8_t buf[sizeof(struct gnt_share) + 16 * sizeof(uint32_t)];
	struct gnt_share h = {.op = op, .count = count, .gfn = gfn};
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_SHARE};
	struct gnt_msg r;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), refs, count * sizeof(*refs));
	m.len = (uint32_t)(sizeof(h) + count * sizeof(*refs)) + len_delta;
	CHECK_EQ(th_raw_send(fd, &m, buf, m.len, NULL, 0), 0);
	if (th_raw_recv(fd, &r, NULL, 0, NULL, NULL, 5000) != 1)
		return INT32_MIN; /* dropped */
	return r.rc;
}

static int32_t map_aux(int fd, uint32_t aux)
{
	struct gnttab_map_grant_ref op = {.flags = GNTMAP_host_map, .ref = 8, .dom = 1};
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref),
			    .count = 1, .len = sizeof(op), .aux = aux};
	struct gnt_msg r;

	CHECK_EQ(th_raw_send(fd, &m, &op, sizeof(op), NULL, 0), 0);
	CHECK_EQ(th_raw_recv(fd, &r, NULL, 0, NULL, NULL, 5000), 1);
	return r.rc;
}

/* The domain's own view of entry ref's frame and flags, in either version
 * (make check runs this at v1 and at v2). */
static void set_frame(void *t, uint32_t ref, uint64_t frame)
{
	if (th_grant_version() == 2)
		__atomic_store_n(&((grant_entry_v2_t *)t)[ref].full_page.frame, frame,
				 __ATOMIC_RELEASE);
	else
		__atomic_store_n(&((grant_entry_v1_t *)t)[ref].frame, (uint32_t)frame,
				 __ATOMIC_RELEASE);
}

static uint16_t flags_of(void *t, uint32_t ref)
{
	if (th_grant_version() == 2)
		return __atomic_load_n(&((grant_entry_v2_t *)t)[ref].hdr.flags, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&((grant_entry_v1_t *)t)[ref].flags, __ATOMIC_ACQUIRE);
}

static void abuser(void *arg)
{
	struct hg *g = arg;
	int fd = th_raw_attach(), fd2;
	uint8_t *p = gnt_alloc_pages(2), *other = gnt_alloc_page(), *q = gnt_alloc_pages(2);
	uint64_t gfn = gnt_virt_to_gfn(p), qgfn = gnt_virt_to_gfn(q);
	uint32_t refs[2], swapped[2], bad[2], qrefs[2];
	uint32_t nframes;
	grant_entry_v1_t *t = th_raw_table(&nframes);

	CHECK(p && other && q && t);
	for (int i = 0; i < 2; i++) {
		refs[i] = (uint32_t)gnt_grant_foreign_access((domid_t)g->b, gfn + (uint64_t)i, 0);
		qrefs[i] = (uint32_t)gnt_grant_foreign_access((domid_t)g->b, qgfn + (uint64_t)i, 0);
	}
	swapped[0] = refs[1];
	swapped[1] = refs[0];
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn + 1, 2, refs, 0), -EINVAL); /* not a unit */
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 1, refs, 0), -EINVAL);     /* its size */
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 2, swapped, 0), -EINVAL);  /* ref i, page i */
	bad[0] = 3, bad[1] = refs[1];
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 2, bad, 0), -EINVAL); /* reserved ref */
	bad[0] = 1u << 30;
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 2, bad, 0), -EINVAL); /* past the table */
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 0, refs, 0), -EINVAL);
	CHECK_EQ(share_rq(fd, 7, gfn, 0, refs, 0), -EINVAL);
	CHECK_EQ(share_rq(fd, GNT_SHARE_END, gfn, 0, refs, 0), -ENOENT);
	CHECK_EQ(share_rq(fd, GNT_SHARE_END, gfn, 1, refs, 0), -EINVAL);
	CHECK_EQ(map_aux(fd, 2), -EINVAL); /* unknown bits */
	CHECK_EQ(gnt_gntalloc_in_use(), 0);
	/* limits: over the domain's gntalloc limit, ENOSPC */
	CHECK_EQ(gnt_gntalloc_set_limit(3), 0);
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 2, refs, 0), 0);
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, gfn, 2, refs, 0), -EEXIST);
	CHECK_EQ(share_rq(fd, GNT_SHARE_OWN, qgfn, 2, qrefs, 0), -ENOSPC);
	CHECK_EQ(gnt_gntalloc_in_use(), 2);
	/* another process may not end it */
	CHECK_EQ(gnt_gntdev_domain_limits(GNT_DOMID_SELF, 0, 0, NULL, NULL, NULL), 0);
	fd2 = th_raw_attach();
	CHECK_EQ(share_rq(fd2, GNT_SHARE_END, gfn, 0, refs, 0), -ENOENT);
	/* malformed: the length does not match count; only fd2 is dropped */
	CHECK_EQ(share_rq(fd2, GNT_SHARE_OWN, qgfn, 2, qrefs, 4), INT32_MIN);
	close(fd2);
	/* the domain rewrites ref 0 for another page: gntd must leave it be */
	set_frame(t, refs[0], gnt_virt_to_gfn(other));
	close(fd); /* this "process" dies */
	for (int i = 0; i < 500 && flags_of(t, refs[1]); i++)
		usleep(10000);
	CHECK_EQ(flags_of(t, refs[1]), 0);
	CHECK_EQ(flags_of(t, refs[0]), GTF_permit_access);
	CHECK_EQ(gnt_gntalloc_in_use(), 0);
	CHECK_EQ(gnt_try_end_foreign_access(refs[0]), 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(gnt_try_end_foreign_access(qrefs[i]), 1);
}

TEST(gntalloc_share_requests_against_the_rules)
{
	struct hg g;
	struct gnt_hv_stats start;
	pid_t p;

	th_gntd_start();
	start = th_stats();
	g.a = th_domain("a");
	g.b = th_domain("b");
	p = th_spawn(g.a, abuser, &g);
	CHECK_EQ(th_wait(p), 0);
	CHECK_EQ(gnt_domain_destroy(g.b), 0); /* it never had a process */
	th_share_fresh();                      /* gntd keeps serving */
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}
