/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_store_perms.c - the permission matrix (owner, r, w, b,
 * none, privileged) for every node operation, inheritance and ownership of
 * new nodes, owner changes (XSA-352), the root (XSA-353), existence hiding
 * and SET_TARGET.
 */
#include "store_fixture.h"

#include <string.h>

enum { OWN, RD, WR, BOTH, NONE, PRIV, NCONN };
static const uint16_t domids[NCONN] = {5, 6, 7, 8, 9, 0};
static uint32_t conns[NCONN], d0;

/* A fresh store with /m (child /m/c) owned by 5: n5,r6,w7,b8. */
static void setup(void)
{
	if (sx.s)
		sx_destroy();
	sx_store();
	for (int i = 0; i < NCONN; i++)
		conns[i] = sx_conn(domids[i], i == PRIV);
	d0 = conns[PRIV];
	SAME(sx_write(d0, 0, "/m/c", "cv"), "OK");
	SAME(sx_write(d0, 0, "/m", "mv"), "OK");
	SAME(sx_setperms(d0, 0, "/m/c", "n5,r6,w7,b8"), "OK");
	SAME(sx_setperms(d0, 0, "/m", "n5,r6,w7,b8"), "OK");
}

#define Y "OK"
#define N "!EACCES"

TEST(store_perm_matrix_read_directory_get_perms)
{
	static const char *want_read[NCONN] = {"mv", "mv", N, "mv", N, "mv"};
	static const char *want_dir[NCONN] = {"c|", "c|", N, "c|", N, "c|"};
	static const char *want_gp[NCONN] = {"n5|r6|w7|b8|", "n5|r6|w7|b8|", N,
					     "n5|r6|w7|b8|", N, "n5|r6|w7|b8|"};

	setup();
	for (int i = 0; i < NCONN; i++) {
		SAME(sx_read(conns[i], 0, "/m"), want_read[i]);
		SAME(sx_dir(conns[i], 0, "/m"), want_dir[i]);
		SAME(sx_perms(conns[i], 0, "/m"), want_gp[i]);
	}
	sx_destroy();
}

TEST(store_perm_matrix_write_rm_set_perms)
{
	static const char *want_write[NCONN] = {Y, N, Y, Y, N, Y};
	static const char *want_rm[NCONN] = {Y, N, Y, Y, N, Y};
	static const char *want_sp[NCONN] = {Y, N, N, N, N, Y};

	for (int i = 0; i < NCONN; i++) {
		setup();
		SAME(sx_write(conns[i], 0, "/m", "new"), want_write[i]);
		SAME(sx_read(d0, 0, "/m"), want_write[i][0] == 'O' ? "new" : "mv");
		SAME(sx_setperms(conns[i], 0, "/m", "n5,r9"), want_sp[i]);
		SAME(sx_perms(d0, 0, "/m"), want_sp[i][0] == 'O' ? "n5|r9|" : "n5|r6|w7|b8|");
		setup();
		SAME(sx_rm(conns[i], 0, "/m"), want_rm[i]);
		SAME(sx_read(d0, 0, "/m/c"), want_rm[i][0] == 'O' ? "!ENOENT" : "cv");
	}
	sx_destroy();
}

TEST(store_perm_create_inherits_and_creator_owns)
{
	setup();
	/* write access on the parent lets 8 create; 8 owns the child */
	SAME(sx_write(conns[BOTH], 0, "/m/new/deep", "x"), "OK");
	SAME(sx_perms(d0, 0, "/m/new"), "n8|r6|w7|b8|");
	SAME(sx_perms(d0, 0, "/m/new/deep"), "n8|r6|w7|b8|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 8), 2);
	/* 6 may only read: it cannot create */
	SAME(sx_write(conns[RD], 0, "/m/r6", "x"), N);
	SAME(sx_mkdir(conns[RD], 0, "/m/r6"), N);
	/* a privileged creator keeps the parent's owner */
	SAME(sx_write(d0, 0, "/m/bydom0", "x"), "OK");
	SAME(sx_perms(d0, 0, "/m/bydom0"), "n5|r6|w7|b8|");
	/* mkdir of an existing node needs write access too */
	SAME(sx_mkdir(conns[RD], 0, "/m"), N);
	SAME(sx_mkdir(conns[WR], 0, "/m"), "OK");
	sx_destroy();
}

TEST(store_perm_only_privileged_changes_owner)
{
	setup();
	SAME(sx_setperms(conns[OWN], 0, "/m", "n6"), "!EPERM");
	SAME(sx_setperms(conns[OWN], 0, "/m", "b5,r6"), "OK");
	SAME(sx_perms(d0, 0, "/m"), "b5|r6|");
	SAME(sx_setperms(d0, 0, "/m", "n6"), "OK");
	SAME(sx_perms(d0, 0, "/m"), "n6|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 6), 1);
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 5), 1); /* /m/c */
	/* 5 lost /m: only the default (none) is left for it */
	SAME(sx_read(conns[OWN], 0, "/m"), N);
	sx_destroy();
}

TEST(store_perm_root_is_checked_like_any_node)
{
	setup();
	for (int i = 0; i < PRIV; i++) {
		SAME(sx_write(conns[i], 0, "/x", "v"), N);
		SAME(sx_mkdir(conns[i], 0, "/x"), N);
		SAME(sx_dir(conns[i], 0, "/"), N);
		SAME(sx_rm(conns[i], 0, "/"), N);
		SAME(sx_setperms(conns[i], 0, "/", "b0"), N);
		SAME(sx_perms(conns[i], 0, "/"), N);
	}
	SAME(sx_dir(d0, 0, "/"), "local|m|");
	sx_destroy();
}

TEST(store_perm_missing_nodes_hide_existence)
{
	setup();
	SAME(sx_read(conns[RD], 0, "/m/nope"), "!ENOENT");
	SAME(sx_read(conns[NONE], 0, "/m/nope"), N);
	SAME(sx_read(conns[NONE], 0, "/m/nope/deeper"), N);
	SAME(sx_perms(conns[NONE], 0, "/m/nope"), N);
	SAME(sx_rm(conns[NONE], 0, "/m/nope"), N);
	SAME(sx_rm(conns[WR], 0, "/m/nope"), "OK");
	SAME(sx_rm(conns[WR], 0, "/m/nope/deeper"), "!ENOENT");
	sx_destroy();
}

TEST(store_perm_set_target_gives_owner_rights)
{
	uint32_t stub;

	setup();
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "guest"), 0);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 10, "stubdom"), 0);
	stub = sx_conn(10, false);
	SAME(sx_read(stub, 0, "/m"), N);
	SAME(SX(conns[OWN], GNT_XS_SET_TARGET, 0, "10\0" "5\0"), N);
	SAME(SX(d0, GNT_XS_SET_TARGET, 0, "10\0" "5\0"), "OK");
	SAME(sx_read(stub, 0, "/m"), "mv");
	SAME(sx_write(stub, 0, "/m", "w"), "OK");
	SAME(sx_read(stub, 0, "/local/domain/5/name"), "guest");
	SAME(SX(d0, GNT_XS_SET_TARGET, 0, "10\0" "11\0"), "!ENOENT");
	SAME(SX(d0, GNT_XS_SET_TARGET, 0, "12\0" "5\0"), "!ENOENT");
	/* the target's death ends it */
	CHECK_EQ(gnt_store_domain_release(sx.s, 5), 0);
	SAME(sx_write(d0, 0, "/t5", "v"), "OK");
	SAME(sx_setperms(d0, 0, "/t5", "n5"), "OK");
	SAME(sx_read(stub, 0, "/t5"), N);
	sx_destroy();
}
