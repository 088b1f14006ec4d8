/* SPDX-License-Identifier: MIT */
/*
 * gnt/xs.h - a xenstore client for processes of gnt domains (and dom0),
 * speaking Xen's xs_wire protocol to the store gntd serves.  The shape of
 * libxenstore's calls, with errors as return values.
 *
 * A process of domain D connects to D's socket and is D: relative paths
 * resolve to /local/domain/D, permissions apply.  dom0 connects to the
 * privileged socket.  $XENSTORED_PATH, when set, names the socket (as for
 * Xen's tools; `gnt exec` sets it).
 *
 * Conventions: functions returning int give 0 (or a count) or a negative
 * errno from the store's reply: -ENOENT, -EACCES, -EINVAL, -EEXIST, -ENOSPC,
 * -E2BIG, -EAGAIN (transaction conflict: retry it), -EBUSY, -ENOSYS, or
 * -ESHUTDOWN when the connection is gone (gntd died): then every later call
 * on the handle fails so too, without a system call.  A handle is not
 * thread-safe: use one per thread.  Watch events that arrive while waiting
 * for a reply are queued for gnt_xs_read_watch().
 */
#ifndef GNT_XS_H
#define GNT_XS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gnt_xs gnt_xs;
#define GNT_XBT_NULL 0u

/* NULL with errno (ENOENT: no store socket). */
gnt_xs *gnt_xs_open(void);
void gnt_xs_close(gnt_xs *xs);
/* Readable when a watch event may be waiting (poll it, then read_watch). */
int gnt_xs_fd(gnt_xs *xs);

/* The value, NUL-terminated (not counted in *len), malloc'd: free() it.
 * NULL with errno on failure. */
char *gnt_xs_read(gnt_xs *xs, uint32_t tx, const char *path, unsigned int *len);
int gnt_xs_write(gnt_xs *xs, uint32_t tx, const char *path, const void *data,
		 unsigned int len);
int gnt_xs_mkdir(gnt_xs *xs, uint32_t tx, const char *path);
int gnt_xs_rm(gnt_xs *xs, uint32_t tx, const char *path);
/* The children's names: one malloc'd block (free() the array), *num of
 * them.  NULL with errno on failure. */
char **gnt_xs_directory(gnt_xs *xs, uint32_t tx, const char *path, unsigned int *num);
/* perms: n strings like "n0", "r5", "b7" (owner first). */
int gnt_xs_set_perms(gnt_xs *xs, uint32_t tx, const char *path, const char *const *perms,
		     unsigned int n);

int gnt_xs_watch(gnt_xs *xs, const char *path, const char *token);
int gnt_xs_unwatch(gnt_xs *xs, const char *path, const char *token);
/* The next watch event: *path and *token point into one malloc'd block
 * returned in *block (free() it).  Waits up to timeout_ms (-1: forever);
 * -ETIMEDOUT when nothing came. */
int gnt_xs_read_watch(gnt_xs *xs, char **path, char **token, void **block, int timeout_ms);

/* Any xs_wire request (type: Xen's XS_* number; for watches and
 * transaction starts tx must be 0): the payload is the n parts of iov
 * concatenated (n <= 7; at most 4096 bytes, else -E2BIG).  On success the
 * reply's payload, NUL-terminated (not counted in *len), malloc'd, in
 * *reply (free() it).  -EPROTO: the reply had another type (the connection
 * is out of step: close the handle).  A lost connection is reported as
 * the socket does (-EPIPE the send, -ECONNRESET the reply), as Xen's
 * libxenstore tells them apart.  Watch events read meanwhile are queued
 * for gnt_xs_read_watch(). */
int gnt_xs_request(gnt_xs *xs, uint32_t type, uint32_t tx, const struct iovec *iov, int n,
		   char **reply, unsigned int *len);

/* A transaction id, or 0 with errno. */
uint32_t gnt_xs_transaction_start(gnt_xs *xs);
/* -EAGAIN: someone else changed what it read or wrote; run it again. */
int gnt_xs_transaction_end(gnt_xs *xs, uint32_t tx, bool abort);

#ifdef __cplusplus
}
#endif
#endif
