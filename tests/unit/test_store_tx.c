/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_store_tx.c - transactions: isolation until commit, abort,
 * conflicts (EAGAIN, nothing applied), removal and re-creation inside one
 * transaction, watches firing at commit, ids of other connections, limits,
 * and exact node accounting whatever the outcome (XSA-415/421).
 */
#include "store_fixture.h"

#include <string.h>

TEST(store_tx_commit_is_invisible_until_then)
{
	uint32_t c, o, t;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	SAME(sx_write(c, 0, "/a", "old"), "OK");
	SAME(sx_watch(o, "/a", "w"), "OK");
	t = sx_tx_start(c);
	sx_clear();
	SAME(sx_write(c, t, "/a", "new"), "OK");
	SAME(sx_write(c, t, "/a/kid/deep", "k"), "OK");
	SAME(sx_read(c, t, "/a"), "new");
	SAME(sx_read(c, t, "/a/kid/deep"), "k");
	SAME(sx_dir(c, t, "/a"), "kid|");
	SAME(sx_read(c, 0, "/a"), "old");
	SAME(sx_read(o, 0, "/a/kid"), "!ENOENT");
	SAME(sx_dir(o, 0, "/a"), "");
	CHECK_EQ(sx_nevents(o), 0); /* nothing fires before commit */
	SAME(sx_tx_end(c, t, true), "OK");
	SAME(sx_read(o, 0, "/a"), "new");
	SAME(sx_read(o, 0, "/a/kid/deep"), "k");
	CHECK(sx_nevent(o, "/a", "w") >= 1);
	CHECK(sx_nevent(o, "/a/kid/deep", "w") >= 1);
	/* the id is gone */
	SAME(sx_read(c, t, "/a"), "!ENOENT");
	SAME(sx_tx_end(c, t, true), "!ENOENT");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 0), 3 + 3);
	sx_destroy();
}

TEST(store_tx_abort_changes_nothing)
{
	struct gnt_store_stats a, b;
	uint32_t c, t;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_write(c, 0, "/a/b", "1"), "OK");
	gnt_store_stats(sx.s, &a);
	t = sx_tx_start(c);
	SAME(sx_write(c, t, "/a/b", "2"), "OK");
	SAME(sx_rm(c, t, "/a"), "OK");
	SAME(sx_write(c, t, "/n/m", "3"), "OK");
	SAME(sx_setperms(c, t, "/n", "r7"), "OK");
	SAME(sx_tx_end(c, t, false), "OK");
	gnt_store_stats(sx.s, &b);
	CHECK_EQ(a.nodes, b.nodes);
	CHECK_EQ(b.transactions, 0);
	SAME(sx_read(c, 0, "/a/b"), "1");
	SAME(sx_read(c, 0, "/n"), "!ENOENT");
	SAME(SX(c, GNT_XS_TRANSACTION_END, 0, "F\0"), "!ENOENT"); /* no tx */
	SAME(SX(c, GNT_XS_TRANSACTION_END, 0, "X\0"), "!EINVAL");
	sx_destroy();
}

TEST(store_tx_conflict_eagain_applies_nothing)
{
	uint32_t c, o, t;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	SAME(sx_write(c, 0, "/a", "1"), "OK");
	SAME(sx_write(c, 0, "/b", "1"), "OK");
	SAME(sx_watch(o, "/", "w"), "OK");
	t = sx_tx_start(c);
	SAME(sx_read(c, t, "/a"), "1");
	SAME(sx_write(c, t, "/b", "tx"), "OK");
	SAME(sx_write(c, t, "/c", "tx"), "OK");
	SAME(sx_write(o, 0, "/a", "2"), "OK"); /* what the tx read changed */
	sx_clear();
	SAME(sx_tx_end(c, t, true), "!EAGAIN");
	SAME(sx_read(c, 0, "/b"), "1");
	SAME(sx_read(c, 0, "/c"), "!ENOENT");
	CHECK_EQ(sx_nevents(o), 0);
	SAME(sx_tx_end(c, t, true), "!ENOENT"); /* ended anyway */
	/* a node that appeared where the tx saw none also conflicts */
	t = sx_tx_start(c);
	SAME(sx_read(c, t, "/new"), "!ENOENT");
	SAME(sx_write(c, t, "/x", "1"), "OK");
	SAME(sx_write(o, 0, "/new", "1"), "OK");
	SAME(sx_tx_end(c, t, true), "!EAGAIN");
	SAME(sx_read(c, 0, "/x"), "!ENOENT");
	/* disjoint work commits */
	t = sx_tx_start(c);
	SAME(sx_write(c, t, "/a", "3"), "OK");
	SAME(sx_write(o, 0, "/b", "4"), "OK");
	SAME(sx_tx_end(c, t, true), "OK");
	SAME(sx_read(c, 0, "/a"), "3");
	SAME(sx_read(c, 0, "/b"), "4");
	sx_destroy();
}

TEST(store_tx_rm_and_create_inside)
{
	uint32_t c, o, t;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	SAME(sx_write(c, 0, "/t/old1/deep", "1"), "OK");
	SAME(sx_write(c, 0, "/t/old2", "2"), "OK");
	SAME(sx_watch(o, "/t/old1/deep", "deep"), "OK");
	t = sx_tx_start(c);
	SAME(sx_rm(c, t, "/t"), "OK");
	SAME(sx_read(c, t, "/t"), "!ENOENT");
	SAME(sx_read(c, t, "/t/old2"), "!ENOENT");
	SAME(sx_dir(c, t, "/"), "local|");
	SAME(sx_rm(c, t, "/t/old2"), "!ENOENT"); /* parent gone */
	SAME(sx_write(c, t, "/t/new", "n"), "OK");
	SAME(sx_dir(c, t, "/t"), "new|");
	SAME(sx_read(c, t, "/t/old1/deep"), "!ENOENT");
	SAME(sx_read(c, 0, "/t/old1/deep"), "1");
	/* create then delete in the same transaction */
	SAME(sx_write(c, t, "/t/tmp/x", "x"), "OK");
	SAME(sx_rm(c, t, "/t/tmp"), "OK");
	SAME(sx_dir(c, t, "/t"), "new|");
	sx_clear();
	SAME(sx_tx_end(c, t, true), "OK");
	SAME(sx_dir(c, 0, "/t"), "new|");
	SAME(sx_read(c, 0, "/t/new"), "n");
	SAME(sx_read(c, 0, "/t/old1"), "!ENOENT");
	CHECK_EQ(sx_nevent(o, "/t/old1/deep", "deep"), 1);
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 0), 3 + 2);
	CHECK_EQ(gnt_store_check(sx.s), 0);
	/* directory inside a transaction merges both sides */
	t = sx_tx_start(c);
	SAME(sx_write(c, t, "/t/a", ""), "OK");
	SAME(sx_rm(c, t, "/t/new"), "OK");
	SAME(sx_write(c, t, "/t/b", ""), "OK");
	SAME(sx_dir(c, t, "/t"), "a|b|");
	SAME(sx_perms(c, t, "/t/a"), "n0|");
	SAME(sx_tx_end(c, t, true), "OK");
	SAME(sx_dir(c, 0, "/t"), "a|b|");
	sx_destroy();
}

TEST(store_tx_ids_are_per_connection)
{
	uint32_t c, o, t;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	t = sx_tx_start(c);
	SAME(sx_write(o, t, "/x", "1"), "!ENOENT");
	SAME(sx_read(o, t, "/"), "!ENOENT");
	SAME(sx_tx_end(o, t, true), "!ENOENT");
	SAME(sx_write(c, 12345, "/x", "1"), "!ENOENT");
	SAME(sx_read(c, 0, "/x"), "!ENOENT");
	/* no nesting */
	SAME(SX(c, GNT_XS_TRANSACTION_START, t, ""), "!EBUSY");
	SAME(SX(c, GNT_XS_TRANSACTION_START, 999, ""), "!ENOENT");
	/* types that do not work in transactions ignore the id */
	SAME(SX(c, GNT_XS_WATCH, 999, "/w\0t\0"), "OK");
	SAME(sx_tx_end(c, t, true), "OK");
	/* closing a connection aborts its transactions */
	t = sx_tx_start(o);
	SAME(sx_write(o, t, "/y", "1"), "OK");
	gnt_store_conn_close(sx.s, o);
	SAME(sx_read(c, 0, "/y"), "!ENOENT");
	sx_destroy();
}

TEST(store_tx_reset_watches_ends_transactions)
{
	struct gnt_store_stats st;
	uint32_t c, t;

	sx_store();
	c = sx_conn(0, true);
	t = sx_tx_start(c);
	SAME(sx_write(c, t, "/y", "1"), "OK");
	SAME(SX(c, GNT_XS_RESET_WATCHES, 0, ""), "OK");
	gnt_store_stats(sx.s, &st);
	CHECK_EQ(st.transactions, 0);
	SAME(sx_tx_end(c, t, true), "!ENOENT");
	sx_destroy();
}

TEST(store_tx_limits)
{
	struct gnt_store_limits l;
	uint32_t g, d0, t, ts[10];
	char p[32];

	gnt_store_limits_default(&l);
	l.nodes_per_transaction = 8;
	sx_store_lim(&l);
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "g"), 0);
	g = sx_conn(4, false);
	for (int i = 0; i < 10; i++)
		ts[i] = sx_tx_start(g);
	SAME(SX(g, GNT_XS_TRANSACTION_START, 0, ""), "!ENOSPC");
	CHECK(SX(d0, GNT_XS_TRANSACTION_START, 0, "")[0] != '!'); /* privileged */
	SAME(sx_tx_end(g, ts[0], false), "OK");
	t = sx_tx_start(g);
	/* nodes touched per transaction */
	int i;
	for (i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "n%d", i);
		if (strcmp(sx_write(g, t, p, "v"), "OK"))
			break;
	}
	CHECK(i < 8);
	SAME(sx_write(g, t, "more", "v"), "!ENOSPC");
	SAME(sx_tx_end(g, t, true), "OK");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 3 + (uint32_t)i);
	sx_destroy();
}

TEST(store_tx_node_quota_at_commit)
{
	struct gnt_store_limits l;
	uint32_t g, t1, t2;
	char p[32];

	gnt_store_limits_default(&l);
	l.nodes_per_domain = 10;
	sx_store_lim(&l);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "g"), 0); /* 3 nodes */
	g = sx_conn(4, false);
	SAME(sx_mkdir(g, 0, "x"), "OK");
	SAME(sx_mkdir(g, 0, "y"), "OK");
	/* two transactions each within the quota, together above it (in
	 * separate directories, so that they do not conflict) */
	t1 = sx_tx_start(g);
	t2 = sx_tx_start(g);
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "x/a%d", i);
		SAME(sx_write(g, t1, p, ""), "OK");
		snprintf(p, sizeof(p), "y/b%d", i);
		SAME(sx_write(g, t2, p, ""), "OK");
	}
	SAME(sx_tx_end(g, t1, true), "OK");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 8);
	SAME(sx_tx_end(g, t2, true), "!ENOSPC");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 8);
	SAME(sx_read(g, 0, "y/b0"), "!ENOENT");
	/* removing and recreating counts exactly: 8 - 4 + 2 */
	t1 = sx_tx_start(g);
	SAME(sx_rm(g, t1, "x"), "OK");
	SAME(sx_write(g, t1, "c0", ""), "OK");
	SAME(sx_write(g, t1, "c1", ""), "OK");
	SAME(sx_tx_end(g, t1, true), "OK");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 6);
	/* creating inside a transaction is checked without its removals;
	 * the commit counts them exactly */
	t1 = sx_tx_start(g);
	SAME(sx_rm(g, t1, "y"), "OK");
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "d%d", i);
		SAME(sx_write(g, t1, p, ""), "OK");
	}
	SAME(sx_write(g, t1, "d4", ""), "!ENOSPC"); /* 6 + 5 > 10 */
	SAME(sx_tx_end(g, t1, true), "OK");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 4), 9);
	sx_destroy();
}
