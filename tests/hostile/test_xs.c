/* SPDX-License-Identifier: MIT */
/*
 * Hostile xenstore clients: oversize and malformed messages drop only the
 * offending connection; the store is unchanged and serves everyone else.
 * A domain cannot connect to another domain's (or dom0's) store socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../helpers.h"

static int xs_connect(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", gnt_test_dir(), name);
	CHECK(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void xs_send(int fd, uint32_t type, const char *p, uint32_t len)
{
	uint32_t h[4] = {type, 7, 0, len};
	CHECK(write(fd, h, 16) == 16);
	if (len)
		CHECK(write(fd, p, len) == (ssize_t)len);
}

/* One reply: its type; payload into buf (NUL-terminated). -1 on EOF. */
static int xs_reply(int fd, char *buf, size_t cap)
{
	uint32_t h[4];
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	if (poll(&pf, 1, 5000) != 1)
		FAIL("no reply within 5 s");
	while (got < 16) {
		ssize_t r = read(fd, (char *)h + got, 16 - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	CHECK(h[3] < cap);
	for (got = 0; got < h[3];) {
		ssize_t r = read(fd, buf + got, h[3] - got);
		CHECK(r > 0);
		got += (size_t)r;
	}
	buf[h[3]] = 0;
	return (int)h[0];
}

static void expect_read(int fd, const char *path, const char *want)
{
	char buf[4200];
	xs_send(fd, 2 /* READ */, path, (uint32_t)strlen(path) + 1);
	CHECK_EQ(xs_reply(fd, buf, sizeof(buf)), 2);
	if (strcmp(buf, want))
		FAIL("read %s: '%s', want '%s'", path, buf, want);
}

TEST(xenstore_oversize_and_garbage_drop_only_the_sender)
{
	char buf[4200];
	int good, bad;

	th_gntd_start();
	good = xs_connect("xenstored.sock");
	CHECK(good >= 0);
	xs_send(good, 11 /* WRITE */, "/k\0v", 4);
	CHECK_EQ(xs_reply(good, buf, sizeof(buf)), 11);
	/* over 4096 bytes: dropped before anything is read of it */
	bad = xs_connect("xenstored.sock");
	{
		uint32_t h[4] = {11, 1, 0, 5000};
		CHECK(write(bad, h, 16) == 16);
		CHECK_EQ(xs_reply(bad, buf, sizeof(buf)), -1);
		close(bad);
	}
	expect_read(good, "/k", "v");
	/* unknown type: an error reply, the connection lives on */
	bad = xs_connect("xenstored.sock");
	xs_send(bad, 999, "x", 1);
	CHECK_EQ(xs_reply(bad, buf, sizeof(buf)), 16 /* ERROR */);
	CHECK(!strcmp(buf, "ENOSYS"));
	/* a write without its NUL separator: an error, nothing written */
	xs_send(bad, 11, "/k2", 3);
	CHECK_EQ(xs_reply(bad, buf, sizeof(buf)), 16);
	xs_send(bad, 2, "/k2", 4);
	CHECK_EQ(xs_reply(bad, buf, sizeof(buf)), 16);
	CHECK(!strcmp(buf, "ENOENT"));
	/* a header cut short, then gone */
	CHECK(write(bad, "\x0b\0\0", 3) == 3);
	close(bad);
	expect_read(good, "/k", "v");
	close(good);
	th_gntd_stop();
}

struct xa {
	uint32_t a, b;
};

static void try_sockets(void *p)
{
	struct xa *x = p;
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "xs-d%u.sock", x->a);
	fd = xs_connect(name);
	CHECK(fd >= 0); /* our own */
	expect_read(fd, "domid", (snprintf(name, sizeof(name), "%u", x->a), name));
	close(fd);
	snprintf(name, sizeof(name), "xs-d%u.sock", x->b);
	CHECK_EQ(xs_connect(name), -EACCES); /* another domain's */
	CHECK_EQ(xs_connect("xenstored.sock"), -EACCES); /* dom0's */
}

TEST(xenstore_sockets_are_per_domain)
{
	struct xa x;

	if (geteuid() != 0)
		FAIL("needs root: domains under their own uids");
	th_gntd_start();
	x.a = th_domain("A");
	x.b = th_domain("B");
	CHECK_EQ(th_wait(th_spawn(x.a, try_sockets, &x)), 0);
	th_gntd_stop();
}

/* Children of path whose names start with prefix, read over fd. */
static int count_children(int fd, const char *path, const char *prefix)
{
	char buf[4200];
	int n = 0;

	xs_send(fd, 1 /* DIRECTORY */, path, (uint32_t)strlen(path) + 1);
	CHECK_EQ(xs_reply(fd, buf, sizeof(buf)), 1);
	for (char *p = buf; *p; p += strlen(p) + 1)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

/* XSA-326: a domain that sends requests and never reads the replies is
 * served up to 20 unread replies (Xen's quota_req_outstanding) beyond what
 * its socket's small kernel buffer holds; after that its requests wait in
 * its socket.  Nothing is dropped: once it reads, the rest are served. */
TEST(xenstore_unread_replies_stop_reading_at_20)
{
	char name[32], path[64], buf[4200];
	uint32_t d;
	int dom, adm, n = 0;

	th_gntd_start();
	d = th_domain("A");
	snprintf(name, sizeof(name), "xs-d%u.sock", d);
	dom = xs_connect(name);
	adm = xs_connect("xenstored.sock");
	CHECK(dom >= 0 && adm >= 0);
	{
		/* in one write: hundreds of small writes would be hundreds of
		 * socket buffers, and once gntd stops reading, our own write
		 * would block before we get to reading the replies */
		static char all[200 * 32];
		size_t at = 0;
		for (int i = 0; i < 200; i++) {
			char *p = all + at + 16;
			uint32_t l = (uint32_t)snprintf(p, 16, "k%d", i) + 1;
			l += (uint32_t)snprintf(p + l, 4, "v");
			memcpy(all + at, (uint32_t[4]){11 /* WRITE */, 7, 0, l}, 16);
			at += 16 + l;
		}
		CHECK_EQ(write(dom, all, at), (ssize_t)at);
	}
	snprintf(path, sizeof(path), "/local/domain/%u", d);
	for (int t = 0; t < 2000 && count_children(adm, path, "k") < 20; t++)
		usleep(1000);
	/* every round trip of dom0 gives gntd's loop a turn at A's socket */
	for (int t = 0; t < 50; t++)
		usleep(100), n = count_children(adm, path, "k");
	if (n < 20 || n > 100)
		FAIL("%d of 200 unread requests served, want 20 + the kernel's buffer (< 100)", n);
	for (int i = 0; i < 200; i++)
		CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 11);
	CHECK_EQ(count_children(adm, path, "k"), 200);
	close(dom);
	close(adm);
	th_gntd_stop();
}

/* XSA-326: a watcher that does not read gets one copy of an event that is
 * still queued, not one per change (beyond the few its socket's kernel
 * buffer took); a later change after it has read is reported again. */
TEST(xenstore_identical_unread_watch_events_are_queued_once)
{
	char name[32], buf[4200];
	uint32_t d;
	int dom, adm, n = 0;
	struct pollfd pf;

	th_gntd_start();
	d = th_domain("A");
	snprintf(name, sizeof(name), "xs-d%u.sock", d);
	dom = xs_connect(name);
	adm = xs_connect("xenstored.sock");
	CHECK(dom >= 0 && adm >= 0);
	xs_send(dom, 11, "w\0" "0", 3);
	CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 11);
	xs_send(dom, 4 /* WATCH */, "w\0tok", 6);
	CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 4);
	CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 15); /* the initial event */
	for (int i = 0; i < 5000; i++) {
		char req[64];
		int l = snprintf(req, sizeof(req), "/local/domain/%u/w", d) + 1;
		l += snprintf(req + l, sizeof(req) - (size_t)l, "%d", i);
		xs_send(adm, 11, req, (uint32_t)l);
		CHECK_EQ(xs_reply(adm, buf, sizeof(buf)), 11);
	}
	pf = (struct pollfd){.fd = dom, .events = POLLIN};
	do {
		CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 15);
		CHECK(!strcmp(buf, "w"));
		n++;
	} while (poll(&pf, 1, 100) == 1);
	if (n > 200)
		FAIL("%d events for 5000 identical changes, want a few", n);
	xs_send(adm, 11, "/local/domain/0/x\0y", 19); /* not watched */
	CHECK_EQ(xs_reply(adm, buf, sizeof(buf)), 11);
	{
		char req[64];
		int l = snprintf(req, sizeof(req), "/local/domain/%u/w", d) + 1;
		l += snprintf(req + l, sizeof(req) - (size_t)l, "again");
		xs_send(adm, 11, req, (uint32_t)l);
		CHECK_EQ(xs_reply(adm, buf, sizeof(buf)), 11);
	}
	CHECK_EQ(xs_reply(dom, buf, sizeof(buf)), 15);
	close(dom);
	close(adm);
	th_gntd_stop();
}
