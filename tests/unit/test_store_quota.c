/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_store_quota.c - per-domain quotas (nodes, entry size,
 * watches, perms per node) with the error names C xenstored uses, failures
 * that leave the counts exact (XSA-414), and the domain lifecycle:
 * introduce/release helpers and messages, connections closed on release,
 * nothing inherited by a new domain with a released id (XSA-322).
 */
#include "store_fixture.h"

#include <errno.h>
#include <string.h>

TEST(store_quota_nodes)
{
	struct gnt_store_stats a, b;
	uint32_t g, d0;
	char p[32];
	int i;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "g"), 0);
	g = sx_conn(4, false);
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 3);
	for (i = 0; i < 996; i++) {
		snprintf(p, sizeof(p), "n%d", i);
		SAME(sx_write(g, 0, p, ""), "OK");
	}
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 999);
	/* a chain that would cross the quota creates nothing */
	gnt_store_stats(sx.s, &a);
	SAME(sx_write(g, 0, "x/y/z", "v"), "!ENOSPC");
	SAME(sx_mkdir(g, 0, "x/y"), "!ENOSPC");
	gnt_store_stats(sx.s, &b);
	CHECK_EQ(a.nodes, b.nodes);
	SAME(sx_read(d0, 0, "/local/domain/4/x"), "!ENOENT");
	SAME(sx_write(g, 0, "last", ""), "OK");
	SAME(sx_write(g, 0, "over", ""), "!ENOSPC");
	/* writing existing nodes is still fine; removing frees quota */
	SAME(sx_write(g, 0, "n0", "v"), "OK");
	SAME(sx_rm(g, 0, "n1"), "OK");
	SAME(sx_write(g, 0, "over", ""), "OK");
	/* the privileged are not bound (the owner is still counted) */
	SAME(sx_write(d0, 0, "/local/domain/4/bydom0", ""), "OK");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 1001);
	CHECK_EQ(gnt_store_check(sx.s), 0);
	sx_destroy();
}

TEST(store_quota_entry_size)
{
	static char v[4000];
	uint32_t g, d0;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "g"), 0);
	g = sx_conn(4, false);
	memset(v, 'v', sizeof(v) - 1);
	v[2039] = '\0'; /* 2039 + 8 per perm < 2048 */
	SAME(sx_write(g, 0, "a", v), "OK");
	v[2039] = 'v';
	v[2040] = '\0';
	SAME(sx_write(g, 0, "a", v), "!ENOSPC");
	SAME(sx_write(g, 0, "b", v), "!ENOSPC");
	SAME(sx_read(g, 0, "b"), "!ENOENT");
	v[2040] = 'v';
	SAME(sx_write(d0, 0, "/local/domain/4/big", v), "OK");
	CHECK_EQ(strlen(sx_read(g, 0, "big")), 3999);
	sx_destroy();
}

TEST(store_quota_watches_and_perms_per_node)
{
	char tok[16];
	uint32_t g, d0;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "g"), 0);
	g = sx_conn(4, false);
	for (int i = 0; i < 128; i++) {
		snprintf(tok, sizeof(tok), "%d", i);
		SAME(sx_watch(g, "w", tok), "OK");
	}
	SAME(sx_watch(g, "w", "x"), "!E2BIG");
	/* per domain: a second connection shares the quota */
	SAME(sx_watch(sx_conn(4, false), "w", "x"), "!E2BIG");
	SAME(sx_unwatch(g, "w", "0"), "OK");
	SAME(sx_watch(g, "w", "x"), "OK");
	for (int i = 0; i < 200; i++) {
		snprintf(tok, sizeof(tok), "%d", i);
		SAME(sx_watch(d0, "/w", tok), "OK");
	}
	/* perms per node */
	SAME(sx_write(g, 0, "p", ""), "OK");
	SAME(sx_setperms(g, 0, "p", "n4,r1,r2,r3,r5"), "OK");
	SAME(sx_setperms(g, 0, "p", "n4,r1,r2,r3,r5,r6"), "!ENOSPC");
	SAME(sx_perms(g, 0, "p"), "n4|r1|r2|r3|r5|");
	SAME(sx_setperms(d0, 0, "/local/domain/4/p", "n4,r1,r2,r3,r5,r6"), "OK");
	sx_destroy();
}

TEST(store_domain_introduce_helper)
{
	uint32_t d0, g;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 0, "x"), -EINVAL);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 0x7FF0, "x"), -EINVAL);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, ""), -EINVAL);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "a\nb"), -EINVAL);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "five"), 0);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "five"), -EEXIST);
	CHECK(gnt_store_domain_introduced(sx.s, 5));
	SAME(sx_read(d0, 0, "/local/domain/5/domid"), "5");
	SAME(sx_read(d0, 0, "/local/domain/5/name"), "five");
	SAME(sx_perms(d0, 0, "/local/domain/5"), "n5|");
	SAME(sx_perms(d0, 0, "/local/domain/5/name"), "n5|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 5), 3);
	g = sx_conn(5, false);
	SAME(sx_write(g, 0, "data/k", "v"), "OK");
	SAME(sx_dir(g, 0, "/local/domain/5"), "domid|name|data|");
	/* others see nothing of it */
	SAME(sx_read(sx_conn(6, false), 0, "/local/domain/5/name"), "!EACCES");
	sx_destroy();
}

TEST(store_domain_release_helper)
{
	uint32_t d0, g, g2, w;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "five"), 0);
	g = sx_conn(5, false);
	g2 = sx_conn(5, false);
	SAME(sx_watch(g, "data", "t"), "OK");
	(void)sx_tx_start(g2);
	SAME(sx_write(d0, 0, "/shared/x", "s"), "OK");
	SAME(sx_setperms(d0, 0, "/shared/x", "n0,r5,b6"), "OK");
	SAME(sx_write(d0, 0, "/owned", "o"), "OK");
	SAME(sx_setperms(d0, 0, "/owned", "n5"), "OK");
	w = sx_conn(0, true);
	SAME(sx_watch(w, "/local/domain/5/name", "nm"), "OK");
	sx_clear();
	CHECK_EQ(gnt_store_domain_release(sx.s, 5), 0);
	CHECK_EQ(gnt_store_domain_release(sx.s, 5), -ENOENT);
	CHECK_EQ(gnt_store_domain_release(sx.s, 0), -EINVAL);
	/* its connections are closed and reported */
	CHECK_EQ(sx.ngone, 2);
	CHECK((sx.gone[0] == g && sx.gone[1] == g2) || (sx.gone[0] == g2 && sx.gone[1] == g));
	CHECK_EQ(gnt_store_request(sx.s, g, GNT_XS_READ, 1, 0, "name\0", 5), -EBADF);
	/* its directory is gone, with events */
	SAME(sx_read(d0, 0, "/local/domain/5"), "!ENOENT");
	CHECK_EQ(sx_nevent(w, "/local/domain/5/name", "nm"), 1);
	/* it is struck from every list and owns nothing (XSA-322) */
	SAME(sx_perms(d0, 0, "/shared/x"), "n0|b6|");
	SAME(sx_perms(d0, 0, "/owned"), "n0|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 5), 0);
	CHECK(!gnt_store_domain_introduced(sx.s, 5));
	/* a new domain 5 inherits nothing */
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "new"), 0);
	g = sx_conn(5, false);
	SAME(sx_read(g, 0, "/shared/x"), "!EACCES");
	SAME(sx_read(g, 0, "/owned"), "!EACCES");
	SAME(sx_read(g, 0, "name"), "new");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 5), 3);
	CHECK_EQ(gnt_store_check(sx.s), 0);
	sx_destroy();
}

TEST(store_domain_messages)
{
	uint32_t d0, g;

	sx_store();
	d0 = sx_conn(0, true);
	g = sx_conn(9, false);
	/* privileged only */
	SAME(SX(g, GNT_XS_INTRODUCE, 0, "5\0" "1\0" "2\0"), "!EACCES");
	SAME(SX(g, GNT_XS_RELEASE, 0, "5\0"), "!EACCES");
	SAME(SX(g, GNT_XS_IS_DOMAIN_INTRODUCED, 0, "0\0"), "!EACCES");
	SAME(SX(g, GNT_XS_RESUME, 0, "0\0"), "!EACCES");
	SAME(SX(g, GNT_XS_SET_TARGET, 0, "5\0" "0\0"), "!EACCES");
	SAME(SX(d0, GNT_XS_IS_DOMAIN_INTRODUCED, 0, "5\0"), "F|");
	SAME(SX(d0, GNT_XS_IS_DOMAIN_INTRODUCED, 0, "0\0"), "T|");
	SAME(SX(d0, GNT_XS_RESUME, 0, "5\0"), "!ENOENT");
	SAME(SX(d0, GNT_XS_RELEASE, 0, "5\0"), "!ENOENT");
	SAME(SX(d0, GNT_XS_INTRODUCE, 0, "32752\0" "1\0" "2\0"), "!EINVAL");
	SAME(SX(d0, GNT_XS_INTRODUCE, 0, "5\0" "4096\0" "2\0"), "OK");
	SAME(SX(d0, GNT_XS_INTRODUCE, 0, "5\0" "4096\0" "3\0"), "OK"); /* rebind */
	SAME(SX(d0, GNT_XS_IS_DOMAIN_INTRODUCED, 0, "5\0"), "T|");
	SAME(SX(d0, GNT_XS_RESUME, 0, "5\0"), "OK");
	/* INTRODUCE creates no nodes (the toolstack does) */
	SAME(sx_read(d0, 0, "/local/domain/5"), "!ENOENT");
	g = sx_conn(5, false);
	SAME(SX(d0, GNT_XS_RELEASE, 0, "0\0"), "!EINVAL");
	SAME(SX(d0, GNT_XS_RELEASE, 0, "5\0"), "OK");
	CHECK_EQ(sx.ngone, 1);
	CHECK_EQ(sx.gone[0], g);
	SAME(SX(d0, GNT_XS_IS_DOMAIN_INTRODUCED, 0, "5\0"), "F|");
	/* a privileged connection of the released domain gets its reply */
	SAME(SX(d0, GNT_XS_INTRODUCE, 0, "7\0" "1\0" "1\0"), "OK");
	g = sx_conn(7, true);
	SAME(SX(g, GNT_XS_RELEASE, 0, "7\0"), "OK");
	CHECK_EQ(sx.ngone, 2);
	CHECK_EQ(sx.gone[1], g);
	sx_destroy();
}
