/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/store_fixture.h - what the store unit tests share: a store
 * whose ops->send records every message (replies and watch events) in a
 * log, one-call wrappers of the requests that return the reply as a string
 * ("OK", the value, or "!ENAME" for an XS_ERROR reply), and event queries.
 *
 * One store per test process (each test runs in its own forked child).
 * sx_destroy() checks the store's counters against a recount, destroys it
 * and frees the log, so LeakSanitizer sees everything back.
 */
#ifndef GNT_TEST_UNIT_STORE_FIXTURE_H
#define GNT_TEST_UNIT_STORE_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "../runner.h"
#include "core/store.h"

struct sx_msg {
	uint32_t conn, type, req_id, tx_id, len;
	char *data; /* len bytes plus a NUL */
};

struct sx_state {
	struct gnt_store *s;
	struct sx_msg *log;
	uint32_t n, cap;
	uint32_t gone[64]; /* conn_gone calls */
	uint32_t ngone;
	uint32_t next_req;
};
extern struct sx_state sx;

struct gnt_store *sx_store(void);                       /* default limits */
struct gnt_store *sx_store_lim(const struct gnt_store_limits *lim);
void sx_destroy(void);
uint32_t sx_conn(uint16_t domid, bool priv);

/* Send one request; CHECK that exactly one reply came, return it. */
const struct sx_msg *sx_call(uint32_t conn, uint32_t type, uint32_t tx,
			     const void *payload, uint32_t len);
/* The same with a string literal payload (embedded NULs kept). */
#define SX(conn, type, tx, lit) sx_res(sx_call(conn, type, tx, lit, sizeof(lit) - 1))
/* A reply as a string: "!ENAME" for errors, else its payload with NULs
 * shown as '|' (so "a\0b\0" reads "a|b|").  Static rotating buffers. */
const char *sx_res(const struct sx_msg *m);

const char *sx_read(uint32_t c, uint32_t tx, const char *path);
const char *sx_write(uint32_t c, uint32_t tx, const char *path, const char *val);
const char *sx_mkdir(uint32_t c, uint32_t tx, const char *path);
const char *sx_rm(uint32_t c, uint32_t tx, const char *path);
const char *sx_dir(uint32_t c, uint32_t tx, const char *path);
const char *sx_perms(uint32_t c, uint32_t tx, const char *path);
/* perms as "b5,r0" */
const char *sx_setperms(uint32_t c, uint32_t tx, const char *path, const char *perms);
const char *sx_watch(uint32_t c, const char *path, const char *token);
const char *sx_unwatch(uint32_t c, const char *path, const char *token);
uint32_t sx_tx_start(uint32_t c); /* CHECKs success */
const char *sx_tx_end(uint32_t c, uint32_t tx, bool commit);

/* Watch events for conn in the log: count, all of them, and with exactly
 * this path and token. */
uint32_t sx_nevents(uint32_t conn);
uint32_t sx_nevent(uint32_t conn, const char *epath, const char *token);
void sx_clear(void);

/* CHECK that two strings are equal, showing both on failure. */
#define SAME(got, want) sx_same((got), (want), __FILE__, __LINE__)
void sx_same(const char *got, const char *want, const char *file, int line);

#endif
