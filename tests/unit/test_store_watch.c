/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_store_watch.c - watches: the initial event, events for
 * changes at or below the watched path (write, create, rm, perms),
 * recursive removal, relative paths, unwatch, reset, events only for
 * readable nodes (XSA-115), oversized events (XSA-324) and the special
 * watches.
 */
#include "store_fixture.h"

#include <string.h>

TEST(store_watch_fires_once_at_registration)
{
	uint32_t c;

	sx_store();
	c = sx_conn(0, true);
	SAME(sx_watch(c, "/w/not/there", "tok"), "OK");
	CHECK_EQ(sx_nevents(c), 1);
	CHECK_EQ(sx_nevent(c, "/w/not/there", "tok"), 1);
	/* the reply came before the event */
	CHECK_EQ(sx.log[sx.n - 2].type, GNT_XS_WATCH);
	CHECK_EQ(sx.log[sx.n - 1].type, GNT_XS_WATCH_EVENT);
	SAME(sx_watch(c, "/w/not/there", "tok"), "!EEXIST");
	SAME(sx_watch(c, "/w/not/there", "tok2"), "OK");
	SAME(sx_watch(c, "/bad//path", "t"), "!EINVAL");
	CHECK_EQ(sx_nevents(c), 2);
	sx_destroy();
}

TEST(store_watch_fires_on_changes_at_or_below)
{
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	SAME(sx_write(c, 0, "/a/b", "1"), "OK");
	SAME(sx_watch(o, "/a", "A"), "OK");
	SAME(sx_watch(o, "/a/b/c", "C"), "OK");
	sx_clear();
	SAME(sx_write(c, 0, "/a/b", "2"), "OK");      /* below /a */
	SAME(sx_write(c, 0, "/a", "x"), "OK");        /* at /a */
	SAME(sx_write(c, 0, "/ab", "x"), "OK");       /* a sibling: no */
	SAME(sx_write(c, 0, "/a/b/c/d", "x"), "OK");  /* both watches */
	SAME(sx_mkdir(c, 0, "/a/m"), "OK");
	SAME(sx_setperms(c, 0, "/a/m", "b0"), "OK");
	CHECK_EQ(sx_nevent(o, "/a/b", "A"), 1);
	CHECK_EQ(sx_nevent(o, "/a", "A"), 1);
	CHECK_EQ(sx_nevent(o, "/a/b/c/d", "A"), 1);
	CHECK_EQ(sx_nevent(o, "/a/b/c/d", "C"), 1);
	CHECK_EQ(sx_nevent(o, "/a/m", "A"), 2);
	CHECK_EQ(sx_nevents(o), 6);
	CHECK_EQ(sx_nevents(c), 0); /* events go to the watcher only */
	/* mkdir of an existing node changes nothing: no event */
	sx_clear();
	SAME(sx_mkdir(c, 0, "/a/m"), "OK");
	CHECK_EQ(sx_nevents(o), 0);
	sx_destroy();
}

TEST(store_watch_rm_and_recursive_rm)
{
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	SAME(sx_write(c, 0, "/r/s/t", "1"), "OK");
	SAME(sx_watch(o, "/", "root"), "OK");
	SAME(sx_watch(o, "/r/s", "S"), "OK");
	SAME(sx_watch(o, "/r/s/t", "T"), "OK");
	SAME(sx_watch(o, "/r/s/t/none", "N"), "OK");
	sx_clear();
	SAME(sx_rm(c, 0, "/r"), "OK");
	CHECK_EQ(sx_nevent(o, "/r", "root"), 1);
	/* watches on removed descendants see their own path (epath = wpath) */
	CHECK_EQ(sx_nevent(o, "/r/s", "S"), 1);
	CHECK_EQ(sx_nevent(o, "/r/s/t", "T"), 1);
	CHECK_EQ(sx_nevents(o), 3);
	/* removing an absent node fires nothing */
	sx_clear();
	SAME(sx_rm(c, 0, "/nothing"), "OK");
	CHECK_EQ(sx_nevents(o), 0);
	sx_destroy();
}

TEST(store_watch_relative_path_gives_relative_events)
{
	uint32_t g, d0;

	sx_store();
	d0 = sx_conn(0, true);
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 3, "g"), 0);
	g = sx_conn(3, false);
	SAME(sx_watch(g, "device", "dev"), "OK");
	CHECK_EQ(sx_nevent(g, "device", "dev"), 1);
	SAME(sx_watch(g, "/local/domain/3/device", "abs"), "OK");
	sx_clear();
	SAME(sx_write(d0, 0, "/local/domain/3/device/vif/0", "x"), "OK");
	CHECK_EQ(sx_nevent(g, "device/vif/0", "dev"), 1);
	CHECK_EQ(sx_nevent(g, "/local/domain/3/device/vif/0", "abs"), 1);
	/* unwatch matches the canonical path */
	SAME(sx_unwatch(g, "/local/domain/3/device", "dev"), "OK");
	SAME(sx_unwatch(g, "device", "abs"), "OK");
	SAME(sx_unwatch(g, "device", "abs"), "!ENOENT");
	sx_clear();
	SAME(sx_write(d0, 0, "/local/domain/3/device/vif/1", "x"), "OK");
	CHECK_EQ(sx_nevents(g), 0);
	sx_destroy();
}

TEST(store_watch_unwatch_and_reset)
{
	struct gnt_store_stats st;
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(4, false);
	SAME(sx_watch(o, "/x", "1"), "OK");
	SAME(sx_watch(o, "/x", "2"), "OK");
	SAME(sx_unwatch(o, "/x", "3"), "!ENOENT");
	SAME(sx_unwatch(o, "/x", "1"), "OK");
	SAME(sx_setperms(c, 0, "/", "r0"), "OK");
	sx_clear();
	SAME(sx_write(c, 0, "/x", "v"), "OK");
	CHECK_EQ(sx_nevent(o, "/x", "2"), 1);
	CHECK_EQ(sx_nevents(o), 1);
	SAME(SX(o, GNT_XS_RESET_WATCHES, 0, ""), "OK");
	gnt_store_stats(sx.s, &st);
	CHECK_EQ(st.watches, 0);
	sx_clear();
	SAME(sx_write(c, 0, "/x", "w"), "OK");
	CHECK_EQ(sx_nevents(o), 0);
	/* XSA-330: reset returns the whole quota, however often */
	for (int round = 0; round < 50; round++) {
		char tok[16];
		for (int i = 0; i < 128; i++) {
			snprintf(tok, sizeof(tok), "%d", i);
			SAME(sx_watch(o, "/x", tok), "OK");
		}
		SAME(sx_watch(o, "/x", "one-more"), "!E2BIG");
		SAME(SX(o, GNT_XS_RESET_WATCHES, 0, ""), "OK");
		sx_clear();
	}
	CHECK_EQ(gnt_store_check(sx.s), 0);
	sx_destroy();
}

TEST(store_watch_events_only_for_readable_nodes)
{
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(4, false);
	SAME(sx_watch(o, "/", "all"), "OK");
	sx_clear();
	SAME(sx_write(c, 0, "/secret", "s"), "OK"); /* n0: not for 4 */
	SAME(sx_write(c, 0, "/public", "p"), "OK");
	SAME(sx_setperms(c, 0, "/public", "n0,r4"), "OK");
	SAME(sx_write(c, 0, "/public", "q"), "OK");
	SAME(sx_rm(c, 0, "/secret"), "OK");
	CHECK_EQ(sx_nevent(o, "/secret", "all"), 0);
	CHECK_EQ(sx_nevent(o, "/public", "all"), 2); /* set_perms, write */
	CHECK_EQ(sx_nevents(o), 2);
	sx_destroy();
}

TEST(store_watch_oversized_event_dropped)
{
	static char tok[4001];
	char path[200];
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(0, true);
	memset(tok, 't', 4000);
	SAME(sx_watch(o, "/big", tok), "OK"); /* 5+4000+2 fits */
	CHECK_EQ(sx_nevents(o), 1);
	memset(path, 0, sizeof(path));
	strcpy(path, "/big/");
	memset(path + 5, 'p', 150);
	sx_clear();
	SAME(sx_write(c, 0, path, "v"), "OK"); /* 155+4000+2 does not */
	CHECK_EQ(sx_nevents(o), 0);
	SAME(sx_write(c, 0, "/big/p", "v"), "OK");
	CHECK_EQ(sx_nevents(o), 1);
	sx_destroy();
}

TEST(store_watch_special_introduce_release)
{
	uint32_t d0, g, h;

	sx_store();
	d0 = sx_conn(0, true);
	h = sx_conn(9, false);
	SAME(sx_watch(d0, "@introduceDomain", "in"), "OK");
	SAME(sx_watch(d0, "@releaseDomain", "out"), "OK");
	SAME(sx_watch(h, "@releaseDomain", "spy"), "OK");
	SAME(sx_watch(h, "@introduceDomain", "spy"), "OK");
	SAME(sx_watch(d0, "@", "x"), "!EINVAL");
	SAME(sx_watch(d0, "@a/b", "x"), "!EINVAL");
	SAME(sx_read(d0, 0, "@releaseDomain"), "!EINVAL");
	SAME(sx_write(d0, 0, "@x", "1"), "!EINVAL");
	sx_clear();
	CHECK_EQ(gnt_store_domain_introduce(sx.s, 5, "five"), 0);
	CHECK_EQ(sx_nevent(d0, "@introduceDomain", "in"), 1);
	g = sx_conn(5, false);
	CHECK_EQ(gnt_store_domain_release(sx.s, 5), 0);
	CHECK_EQ(sx_nevent(d0, "@releaseDomain", "out"), 1);
	/* XSA-115: the unprivileged watcher hears nothing */
	CHECK_EQ(sx_nevents(h), 0);
	(void)g;
	/* the messages do the same */
	sx_clear();
	SAME(SX(d0, GNT_XS_INTRODUCE, 0, "6\0" "1234\0" "7\0"), "OK");
	CHECK_EQ(sx_nevent(d0, "@introduceDomain", "in"), 1);
	SAME(SX(d0, GNT_XS_RELEASE, 0, "6\0"), "OK");
	CHECK_EQ(sx_nevent(d0, "@releaseDomain", "out"), 1);
	CHECK_EQ(sx_nevents(h), 0);
	sx_destroy();
}

TEST(store_watch_conn_close_drops_watches)
{
	struct gnt_store_stats st;
	uint32_t c, o;

	sx_store();
	c = sx_conn(0, true);
	o = sx_conn(4, false);
	SAME(sx_watch(o, "/x", "1"), "OK");
	SAME(sx_watch(o, "/y", "1"), "OK");
	gnt_store_conn_close(sx.s, o);
	gnt_store_stats(sx.s, &st);
	CHECK_EQ(st.watches, 0);
	CHECK_EQ(gnt_store_check(sx.s), 0);
	sx_clear();
	SAME(sx_write(c, 0, "/x", "v"), "OK");
	CHECK_EQ(sx.n, 1); /* the reply only */
	sx_destroy();
}
