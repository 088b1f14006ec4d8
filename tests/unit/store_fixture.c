/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/store_fixture.c - recording ops and request wrappers for the
 * store tests.  See store_fixture.h.
 */
#include "store_fixture.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

struct sx_state sx;

static void rec_send(void *ctx, uint32_t conn, uint32_t type, uint32_t req_id,
		     uint32_t tx_id, const void *payload, uint32_t len)
{
	struct sx_msg *m;

	if (len > GNT_XS_PAYLOAD_MAX)
		FAIL("message of %u bytes", len);
	if (sx.n == sx.cap) {
		sx.cap = sx.cap ? sx.cap * 2 : 64;
		sx.log = realloc(sx.log, sx.cap * sizeof(*sx.log));
		CHECK(sx.log);
	}
	m = &sx.log[sx.n++];
	m->conn = conn;
	m->type = type;
	m->req_id = req_id;
	m->tx_id = tx_id;
	m->len = len;
	m->data = malloc(len + 1);
	CHECK(m->data);
	memcpy(m->data, payload, len);
	m->data[len] = '\0';
}

static void rec_gone(void *ctx, uint32_t conn)
{
	CHECK(sx.ngone < 64);
	sx.gone[sx.ngone++] = conn;
}

static const struct gnt_store_ops rec_ops = {rec_send, rec_gone};

struct gnt_store *sx_store_lim(const struct gnt_store_limits *lim)
{
	sx.s = gnt_store_create(&rec_ops, NULL, lim);
	CHECK(sx.s);
	return sx.s;
}

struct gnt_store *sx_store(void)
{
	return sx_store_lim(NULL);
}

void sx_clear(void)
{
	for (uint32_t i = 0; i < sx.n; i++)
		free(sx.log[i].data);
	sx.n = 0;
}

void sx_destroy(void)
{
	CHECK_EQ(gnt_store_check(sx.s), 0);
	gnt_store_destroy(sx.s);
	sx.s = NULL;
	sx_clear();
	free(sx.log);
	sx.log = NULL;
	sx.cap = 0;
	/* the runner's children leave with _exit: ask LeakSanitizer now */
#if defined(__SANITIZE_ADDRESS__)
	if (__lsan_do_recoverable_leak_check())
		FAIL("LeakSanitizer found leaks (see above)");
#endif
}

uint32_t sx_conn(uint16_t domid, bool priv)
{
	uint32_t c = 0;

	CHECK_EQ(gnt_store_conn_open(sx.s, domid, priv, &c), 0);
	CHECK(c != 0);
	return c;
}

const struct sx_msg *sx_call(uint32_t conn, uint32_t type, uint32_t tx,
			     const void *payload, uint32_t len)
{
	uint32_t first = sx.n, req = ++sx.next_req;
	const struct sx_msg *r = NULL;

	CHECK_EQ(gnt_store_request(sx.s, conn, type, req, tx, payload, len), 0);
	for (uint32_t i = first; i < sx.n; i++) {
		const struct sx_msg *m = &sx.log[i];
		if (m->type == GNT_XS_WATCH_EVENT) {
			CHECK_EQ(m->req_id, 0);
			CHECK_EQ(m->tx_id, 0);
			continue;
		}
		if (r)
			FAIL("two replies to request type %u", type);
		r = m;
		CHECK_EQ(m->conn, conn);
		CHECK_EQ(m->req_id, req);
		CHECK_EQ(m->tx_id, tx);
		CHECK(m->type == type || m->type == GNT_XS_ERROR);
	}
	if (!r)
		FAIL("no reply to request type %u", type);
	return r;
}

const char *sx_res(const struct sx_msg *m)
{
	static char bufs[8][GNT_XS_PAYLOAD_MAX + 8];
	static int next;
	char *b = bufs[next++ % 8];

	if (m->type == GNT_XS_ERROR) {
		CHECK(m->len >= 2 && m->data[m->len - 1] == '\0');
		CHECK_EQ(strlen(m->data) + 1, m->len);
		b[0] = '!';
		strcpy(b + 1, m->data);
		return b;
	}
	for (uint32_t i = 0; i < m->len; i++)
		b[i] = m->data[i] ? m->data[i] : '|';
	b[m->len] = '\0';
	/* "OK\0" reads "OK" */
	if (m->len == 3 && !memcmp(m->data, "OK", 3))
		b[2] = '\0';
	return b;
}

/* Payload "s1\0s2\0..." (n strings; the last one unterminated if raw). */
static const char *call_strs(uint32_t c, uint32_t type, uint32_t tx, int n,
			     const char **s, bool raw_last)
{
	static char buf[2 * GNT_XS_PAYLOAD_MAX];
	uint32_t len = 0;

	for (int i = 0; i < n; i++) {
		size_t l = strlen(s[i]);
		CHECK(len + l + 1 < sizeof(buf));
		memcpy(buf + len, s[i], l);
		len += (uint32_t)l;
		if (!(raw_last && i == n - 1))
			buf[len++] = '\0';
	}
	return sx_res(sx_call(c, type, tx, buf, len));
}

const char *sx_read(uint32_t c, uint32_t tx, const char *path)
{
	return call_strs(c, GNT_XS_READ, tx, 1, &path, false);
}

const char *sx_write(uint32_t c, uint32_t tx, const char *path, const char *val)
{
	const char *s[2] = {path, val};
	return call_strs(c, GNT_XS_WRITE, tx, 2, s, true);
}

const char *sx_mkdir(uint32_t c, uint32_t tx, const char *path)
{
	return call_strs(c, GNT_XS_MKDIR, tx, 1, &path, false);
}

const char *sx_rm(uint32_t c, uint32_t tx, const char *path)
{
	return call_strs(c, GNT_XS_RM, tx, 1, &path, false);
}

const char *sx_dir(uint32_t c, uint32_t tx, const char *path)
{
	return call_strs(c, GNT_XS_DIRECTORY, tx, 1, &path, false);
}

const char *sx_perms(uint32_t c, uint32_t tx, const char *path)
{
	return call_strs(c, GNT_XS_GET_PERMS, tx, 1, &path, false);
}

const char *sx_setperms(uint32_t c, uint32_t tx, const char *path, const char *perms)
{
	const char *s[16];
	char copy[256];
	int n = 0;

	s[n++] = path;
	CHECK(strlen(perms) < sizeof(copy));
	strcpy(copy, perms);
	for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
		CHECK(n < 16);
		s[n++] = t;
	}
	return call_strs(c, GNT_XS_SET_PERMS, tx, n, s, false);
}

const char *sx_watch(uint32_t c, const char *path, const char *token)
{
	const char *s[2] = {path, token};
	return call_strs(c, GNT_XS_WATCH, 0, 2, s, false);
}

const char *sx_unwatch(uint32_t c, const char *path, const char *token)
{
	const char *s[2] = {path, token};
	return call_strs(c, GNT_XS_UNWATCH, 0, 2, s, false);
}

uint32_t sx_tx_start(uint32_t c)
{
	const struct sx_msg *m = sx_call(c, GNT_XS_TRANSACTION_START, 0, "", 1);
	uint32_t id;

	CHECK_EQ(m->type, GNT_XS_TRANSACTION_START);
	CHECK(m->len >= 2 && m->data[m->len - 1] == '\0');
	id = (uint32_t)strtoul(m->data, NULL, 10);
	CHECK(id != 0);
	return id;
}

const char *sx_tx_end(uint32_t c, uint32_t tx, bool commit)
{
	const char *s = commit ? "T" : "F";
	return call_strs(c, GNT_XS_TRANSACTION_END, tx, 1, &s, false);
}

uint32_t sx_nevents(uint32_t conn)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < sx.n; i++)
		k += sx.log[i].type == GNT_XS_WATCH_EVENT && sx.log[i].conn == conn;
	return k;
}

uint32_t sx_nevent(uint32_t conn, const char *epath, const char *token)
{
	size_t pl = strlen(epath), tl = strlen(token);
	uint32_t k = 0;

	for (uint32_t i = 0; i < sx.n; i++) {
		const struct sx_msg *m = &sx.log[i];
		if (m->type != GNT_XS_WATCH_EVENT || m->conn != conn)
			continue;
		CHECK_EQ(m->len, strlen(m->data) + 1 + strlen(m->data + strlen(m->data) + 1) + 1);
		if (m->len == pl + tl + 2 && !strcmp(m->data, epath) &&
		    !strcmp(m->data + pl + 1, token))
			k++;
	}
	return k;
}

void sx_same(const char *got, const char *want, const char *file, int line)
{
	if (strcmp(got, want))
		gnt__test_fail(file, line, "got \"%s\", expected \"%s\"", got, want);
}
