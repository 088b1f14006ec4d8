/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_store_basic.c - the store's message types one by one
 * (xen-inventory A.7 payloads and replies), path validation and malformed
 * payloads: each bad request gets a clean XS_ERROR and changes nothing.
 */
#include "store_fixture.h"

#include <errno.h>
#include <string.h>


TEST(store_create_has_local_domain_and_defaults)
{
	struct gnt_store_limits l;
	struct gnt_store_stats st;
	uint32_t c;

	gnt_store_limits_default(&l);
	CHECK_EQ(l.nodes_per_domain, 1000);
	CHECK_EQ(l.watches_per_domain, 128);
	CHECK_EQ(l.entry_size, 2048);
	CHECK_EQ(l.transactions, 10);
	CHECK_EQ(l.perms_per_node, 5);
	CHECK_EQ(l.nodes_per_transaction, 1024);
	CHECK_EQ(l.path_max_rel, 2048);
	CHECK_EQ(l.path_max_abs, 3072);
	CHECK_EQ(l.payload_max, 4096);
	sx_store();
	c = sx_conn(0, true);
	SAME(sx_dir(c, 0, "/"), "local|");
	SAME(sx_dir(c, 0, "/local"), "domain|");
	SAME(sx_dir(c, 0, "/local/domain"), "");
	SAME(sx_perms(c, 0, "/"), "n0|");
	SAME(sx_perms(c, 0, "/local/domain"), "n0|");
	gnt_store_stats(sx.s, &st);
	CHECK_EQ(st.nodes, 3);
	CHECK_EQ(st.connections, 1);
	CHECK(gnt_store_domain_introduced(sx.s, 0));
	CHECK(!gnt_store_domain_introduced(sx.s, 1));
	sx_destroy();
}

TEST(store_write_read_creates_parents_with_empty_values)
{
	uint32_t c;
	const struct sx_msg *m;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_write(c, 0, "/a/b/c", "hello"), "OK");
	SAME(sx_read(c, 0, "/a/b/c"), "hello");
	SAME(sx_read(c, 0, "/a/b"), "");
	SAME(sx_read(c, 0, "/a"), "");
	SAME(sx_dir(c, 0, "/a"), "b|");
	/* the read reply is the raw value: no terminator, binary kept */
	CHECK_EQ(gnt_store_request(sx.s, c, GNT_XS_WRITE, 7, 0, "/bin\0x\0y", 8), 0);
	m = sx_call(c, GNT_XS_READ, 0, "/bin", 5);
	CHECK_EQ(m->type, GNT_XS_READ);
	CHECK_EQ(m->len, 3);
	CHECK(!memcmp(m->data, "x\0y", 3));
	/* overwrite, empty value */
	SAME(sx_write(c, 0, "/a/b/c", ""), "OK");
	SAME(sx_read(c, 0, "/a/b/c"), "");
	SAME(sx_read(c, 0, "/nope"), "!ENOENT");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 0), 3 + 4);
	sx_destroy();
}

TEST(store_mkdir_rm_directory)
{
	uint32_t c;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_mkdir(c, 0, "/d/e"), "OK");
	SAME(sx_read(c, 0, "/d/e"), "");
	SAME(sx_write(c, 0, "/d/e", "v"), "OK");
	SAME(sx_mkdir(c, 0, "/d/e"), "OK"); /* exists: unchanged */
	SAME(sx_read(c, 0, "/d/e"), "v");
	SAME(sx_mkdir(c, 0, "/d/f"), "OK");
	SAME(sx_mkdir(c, 0, "/d/g"), "OK");
	SAME(sx_dir(c, 0, "/d"), "e|f|g|");
	SAME(sx_rm(c, 0, "/d/f"), "OK");
	SAME(sx_dir(c, 0, "/d"), "e|g|");
	SAME(sx_rm(c, 0, "/d/f"), "OK");      /* absent, parent there */
	SAME(sx_rm(c, 0, "/x/y"), "!ENOENT"); /* parent absent */
	SAME(sx_rm(c, 0, "/d"), "OK");        /* subtree */
	SAME(sx_read(c, 0, "/d/e"), "!ENOENT");
	SAME(sx_dir(c, 0, "/d"), "!ENOENT");
	SAME(sx_rm(c, 0, "/"), "!EINVAL");
	SAME(sx_dir(c, 0, "/"), "local|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 0), 3);
	sx_destroy();
}

TEST(store_directory_too_big_and_directory_part)
{
	char path[64], want[16];
	uint32_t c, off = 0, names = 0;
	const struct sx_msg *m;
	char gen[32] = "";

	sx_store();
	c = sx_conn(0, true);
	for (int i = 0; i < 600; i++) { /* 600 * ~8 bytes > 4096 */
		snprintf(path, sizeof(path), "/big/child%03d", i);
		SAME(sx_write(c, 0, path, ""), "OK");
	}
	SAME(sx_dir(c, 0, "/big"), "!E2BIG"); /* XSA-72 */
	/* DIRECTORY_PART in chunks: <gen>|<child>|*, the last ends "||" */
	for (;;) {
		char pl[64];
		int pll = snprintf(pl, sizeof(pl), "/big%c%u", 0, off) + 1;
		const char *p;
		m = sx_call(c, GNT_XS_DIRECTORY_PART, 0, pl, (uint32_t)pll);
		CHECK_EQ(m->type, GNT_XS_DIRECTORY_PART);
		CHECK(m->len <= 4096);
		if (!gen[0])
			strcpy(gen, m->data);
		SAME(m->data, gen); /* unchanged between chunks */
		p = m->data + strlen(m->data) + 1;
		while (p < m->data + m->len && *p) {
			snprintf(want, sizeof(want), "child%03u", names++);
			SAME(p, want);
			off += (uint32_t)strlen(p) + 1;
			p += strlen(p) + 1;
		}
		if (p < m->data + m->len) { /* the final extra NUL */
			CHECK_EQ(p + 1 - m->data, m->len);
			break;
		}
		CHECK(names < 600);
	}
	CHECK_EQ(names, 600);
	/* offset past the end: just the generation and the terminator */
	m = sx_call(c, GNT_XS_DIRECTORY_PART, 0, "/big\0" "999999", 12);
	CHECK_EQ(m->len, strlen(gen) + 2);
	SAME(sx_res(sx_call(c, GNT_XS_DIRECTORY_PART, 0, "/big\0x", 7)), "!EINVAL");
	SAME(sx_res(sx_call(c, GNT_XS_DIRECTORY_PART, 0, "/big", 5)), "!EINVAL");
	/* the generation changes with the children */
	SAME(sx_write(c, 0, "/big/more", ""), "OK");
	m = sx_call(c, GNT_XS_DIRECTORY_PART, 0, "/big\0" "0", 7);
	CHECK(strcmp(m->data, gen));
	sx_destroy();
}

TEST(store_get_set_perms)
{
	uint32_t c;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_write(c, 0, "/p", "v"), "OK");
	SAME(sx_perms(c, 0, "/p"), "n0|");
	SAME(sx_setperms(c, 0, "/p", "r5,w6,b7,n8"), "OK");
	SAME(sx_perms(c, 0, "/p"), "r5|w6|b7|n8|");
	CHECK_EQ(gnt_store_domain_nodes(sx.s, 5), 1); /* owner changed */
	/* children inherit the list */
	SAME(sx_write(c, 0, "/p/q", "v"), "OK");
	SAME(sx_perms(c, 0, "/p/q"), "r5|w6|b7|n8|");
	SAME(sx_setperms(c, 0, "/p", "x5"), "!EINVAL");
	SAME(sx_setperms(c, 0, "/p", "r"), "!EINVAL");
	SAME(sx_setperms(c, 0, "/p", "r-1"), "!EINVAL");
	SAME(sx_setperms(c, 0, "/p", "r65536"), "!EINVAL");
	SAME(SX(c, GNT_XS_SET_PERMS, 0, "/p\0"), "!EINVAL"); /* no perm */
	SAME(sx_setperms(c, 0, "/nope", "r0"), "!ENOENT");
	SAME(sx_perms(c, 0, "/p"), "r5|w6|b7|n8|");
	sx_destroy();
}

TEST(store_get_domain_path_and_unknown_types)
{
	uint32_t c;

	sx_store();
	c = sx_conn(3, false);
	SAME(SX(c, GNT_XS_GET_DOMAIN_PATH, 0, "7\0"), "/local/domain/7|");
	SAME(SX(c, GNT_XS_GET_DOMAIN_PATH, 0, "x\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_GET_DOMAIN_PATH, 0, "7"), "!EINVAL");
	SAME(SX(c, GNT_XS_WATCH_EVENT, 0, "a\0b\0"), "!ENOSYS");
	SAME(SX(c, GNT_XS_ERROR, 0, "a\0"), "!ENOSYS");
	SAME(SX(c, 20, 0, "a\0"), "!ENOSYS"); /* RESTRICT: removed */
	SAME(SX(c, 23, 0, "a\0"), "!ENOSYS");
	SAME(SX(c, 0xFFFF, 0, ""), "!ENOSYS");
	/* CONTROL: privileged, minimal */
	SAME(SX(c, GNT_XS_CONTROL, 0, "check\0"), "!EACCES");
	c = sx_conn(0, true);
	SAME(SX(c, GNT_XS_CONTROL, 0, "check\0"), "OK");
	SAME(SX(c, GNT_XS_CONTROL, 0, "print\0hello\0"), "OK");
	SAME(SX(c, GNT_XS_CONTROL, 0, "help\0"), "check\nhelp\nprint\n|");
	SAME(SX(c, GNT_XS_CONTROL, 0, "frobnicate\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_CONTROL, 0, ""), "!EINVAL");
	sx_destroy();
}

TEST(store_relative_paths_resolve_to_own_domain)
{
	uint32_t d0, c;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 4, "vm4"), 0);
	c = sx_conn(4, false);
	SAME(sx_read(c, 0, "name"), "vm4");
	SAME(sx_read(c, 0, "domid"), "4");
	SAME(sx_write(c, 0, "data/x", "1"), "OK");
	SAME(sx_read(d0, 0, "/local/domain/4/data/x"), "1");
	SAME(sx_write(d0, 0, "zero", "z"), "OK"); /* dom0: /local/domain/0 */
	SAME(sx_read(d0, 0, "/local/domain/0/zero"), "z");
	SAME(sx_read(c, 0, ""), "!EINVAL"); /* "/local/domain/4/" */
	sx_destroy();
}

TEST(store_path_validation)
{
	static const char *bad[] = {"/a//b", "/a/", "a/", "/a b", "/a\n", "/a.b",
				    "/a*", "@introduceDomain", "//"};
	char big[4200];
	uint32_t c;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_write(c, 0, "/ok-_@Z9/x", "1"), "OK");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		SAME(sx_write(c, 0, bad[i], "v"), "!EINVAL");
		SAME(sx_read(c, 0, bad[i]), "!EINVAL");
		SAME(sx_rm(c, 0, bad[i]), "!EINVAL");
	}
	/* absolute: up to 3072 bytes */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[3072] = '\0';
	SAME(sx_write(c, 0, big, ""), "OK");
	big[3072] = 'a';
	big[3073] = '\0';
	SAME(sx_write(c, 0, big, ""), "!EINVAL");
	/* relative: the part below /local/domain/<id>/ up to 2048 (XSA-323) */
	memset(big, 'r', sizeof(big));
	big[2048] = '\0';
	SAME(sx_write(c, 0, big, ""), "OK");
	big[2048] = 'r';
	big[2049] = '\0';
	SAME(sx_write(c, 0, big, ""), "!EINVAL");
	memset(big, 'r', sizeof(big));
	memcpy(big, "/local/domain/0/", 16);
	big[2048 + 16] = '\0';
	SAME(sx_write(c, 0, big, ""), "OK");
	big[2048 + 16] = 'r';
	big[2049 + 16] = '\0';
	SAME(sx_write(c, 0, big, ""), "!EINVAL");
	sx_destroy();
}

TEST(store_malformed_payloads_change_nothing)
{
	struct gnt_store_stats a, b;
	char huge[4097];
	uint32_t c;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_write(c, 0, "/k", "v"), "OK");
	gnt_store_stats(sx.s, &a);
	/* missing NUL */
	SAME(SX(c, GNT_XS_READ, 0, "/k"), "!EINVAL");
	SAME(SX(c, GNT_XS_WRITE, 0, "/k"), "!EINVAL");
	SAME(SX(c, GNT_XS_MKDIR, 0, "/m"), "!EINVAL");
	SAME(SX(c, GNT_XS_RM, 0, "/k"), "!EINVAL");
	SAME(SX(c, GNT_XS_DIRECTORY, 0, "/"), "!EINVAL");
	SAME(SX(c, GNT_XS_GET_PERMS, 0, "/k"), "!EINVAL");
	SAME(SX(c, GNT_XS_WATCH, 0, "/k\0tok"), "!EINVAL");
	SAME(SX(c, GNT_XS_TRANSACTION_END, 0, "T"), "!EINVAL");
	/* empty */
	SAME(SX(c, GNT_XS_READ, 0, ""), "!EINVAL");
	SAME(SX(c, GNT_XS_WRITE, 0, ""), "!EINVAL");
	SAME(SX(c, GNT_XS_WATCH, 0, ""), "!EINVAL");
	/* embedded NULs: a path is one string */
	SAME(SX(c, GNT_XS_READ, 0, "/k\0x\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_MKDIR, 0, "/m\0n\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_RM, 0, "/k\0\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_WRITE, 0, "\0v"), "!EINVAL"); /* empty path */
	SAME(SX(c, GNT_XS_UNWATCH, 0, "/k\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_INTRODUCE, 0, "5\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_INTRODUCE, 0, "5\0x\0" "1\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_SET_TARGET, 0, "5\0"), "!EINVAL");
	SAME(SX(c, GNT_XS_RELEASE, 0, "-1\0"), "!EINVAL");
	gnt_store_stats(sx.s, &b);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	SAME(sx_read(c, 0, "/k"), "v");
	SAME(sx_read(c, 0, "/m"), "!ENOENT");
	/* oversize: no reply at all, the transport drops the connection */
	memset(huge, 0, sizeof(huge));
	huge[0] = '/';
	CHECK_EQ(gnt_store_request(sx.s, c, GNT_XS_READ, 1, 0, huge, 4097), -EMSGSIZE);
	CHECK_EQ(gnt_store_request(sx.s, 999, GNT_XS_READ, 1, 0, "/\0", 2), -EBADF);
	/* a 4096-byte payload is fine */
	CHECK_EQ(gnt_store_request(sx.s, c, GNT_XS_READ, 1, 0, huge, 4096), 0);
	sx_destroy();
}

TEST(store_conn_open_close_limits)
{
	struct gnt_store_limits l;
	uint32_t a, b, x;

	gnt_store_limits_default(&l);
	l.connections = 2;
	sx_store_lim(&l);
	CHECK_EQ(gnt_store_conn_open(sx.s, 0x7FF0, false, &x), -EINVAL);
	a = sx_conn(1, false);
	b = sx_conn(2, false);
	CHECK(a != b);
	CHECK_EQ(gnt_store_conn_open(sx.s, 3, false, &x), -ENOSPC);
	SAME(sx_watch(a, "/x", "t"), "OK");
	gnt_store_conn_close(sx.s, a);
	gnt_store_conn_close(sx.s, a); /* idempotent */
	CHECK_EQ(gnt_store_request(sx.s, a, GNT_XS_READ, 1, 0, "/\0", 2), -EBADF);
	a = sx_conn(3, false);
	(void)b;
	sx_destroy();
}
