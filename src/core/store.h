/* SPDX-License-Identifier: MIT */
/*
 * core/store.h - the xenstore state machine: the node tree with permissions,
 * watches, transactions, per-domain quotas and the domain bookkeeping of
 * INTRODUCE/RELEASE.  Pure: no syscalls, no sockets.  The transport (the
 * 16-byte xsd_sockmsg framing, rings or sockets) lives in gntd; it hands
 * each decoded request to gnt_store_request() and ships what the store emits
 * through struct gnt_store_ops.
 *
 * Semantics follow C xenstored of Xen 4.17 (xen-inventory.md A.7); where the
 * store deliberately differs, store.c says so in a comment.
 *
 * Threads: none.  A store is used by one thread at a time; callbacks run on
 * the caller's thread, synchronously, and must not call back into the store.
 * Fork: a child may use its copy independently.
 */
#ifndef GNT_CORE_STORE_H
#define GNT_CORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

/* Message types (enum xsd_sockmsg_type, Xen 4.17).  Prefixed so that this
 * header can coexist with Xen's xs_wire.h in the compat library. */
enum {
	GNT_XS_CONTROL = 0,
	GNT_XS_DIRECTORY = 1,
	GNT_XS_READ = 2,
	GNT_XS_GET_PERMS = 3,
	GNT_XS_WATCH = 4,
	GNT_XS_UNWATCH = 5,
	GNT_XS_TRANSACTION_START = 6,
	GNT_XS_TRANSACTION_END = 7,
	GNT_XS_INTRODUCE = 8,
	GNT_XS_RELEASE = 9,
	GNT_XS_GET_DOMAIN_PATH = 10,
	GNT_XS_WRITE = 11,
	GNT_XS_MKDIR = 12,
	GNT_XS_RM = 13,
	GNT_XS_SET_PERMS = 14,
	GNT_XS_WATCH_EVENT = 15,
	GNT_XS_ERROR = 16,
	GNT_XS_IS_DOMAIN_INTRODUCED = 17,
	GNT_XS_RESUME = 18,
	GNT_XS_SET_TARGET = 19,
	GNT_XS_RESET_WATCHES = 21,
	GNT_XS_DIRECTORY_PART = 22,
};

#define GNT_XS_PAYLOAD_MAX 4096u /* XENSTORE_PAYLOAD_MAX */

/* Limits, fixed at gnt_store_create.  Quotas bind unprivileged connections
 * only (as C xenstored); the path limits, the payload maximum and the
 * connection table bind everyone. */
struct gnt_store_limits {
	uint32_t nodes_per_domain;    /* 1000: nodes a domain owns; ENOSPC */
	uint32_t watches_per_domain;  /* 128; E2BIG */
	uint32_t entry_size;          /* 2048: see store.c; ENOSPC */
	uint32_t transactions;        /* 10 open per connection; ENOSPC */
	uint32_t perms_per_node;      /* 5; ENOSPC */
	uint32_t nodes_per_transaction; /* 1024 nodes touched; ENOSPC */
	uint32_t path_max_rel;        /* 2048: below /local/domain/<id>/; EINVAL */
	uint32_t path_max_abs;        /* 3072 (at most 4095); EINVAL */
	uint32_t payload_max;         /* 4096 (at most 4096), both ways */
	uint32_t connections;         /* 4096 open connections; ENOSPC */
};

/* Xen 4.17 C xenstored defaults, as listed above. */
void gnt_store_limits_default(struct gnt_store_limits *lim);

struct gnt_store_ops {
	/* Queue one message for connection `conn`: a reply (type, req_id and
	 * tx_id of the request, or type GNT_XS_ERROR with "<ENAME>\0") or a
	 * watch event (GNT_XS_WATCH_EVENT, req_id = tx_id = 0, payload
	 * "<epath>\0<token>\0").  len <= payload_max always.  The payload is
	 * the store's and valid only during the call.  Required. */
	void (*send)(void *ctx, uint32_t conn, uint32_t type, uint32_t req_id,
		     uint32_t tx_id, const void *payload, uint32_t len);
	/* Optional: the store closed `conn` because its domain was released
	 * (RELEASE or gnt_store_domain_release).  The id is already invalid;
	 * the transport drops its end and must not call conn_close for it. */
	void (*conn_gone)(void *ctx, uint32_t conn);
};

struct gnt_store;

/* A store holding "/", "/local" and "/local/domain" (owner dom0, no access
 * for others) with dom0 introduced.  lim NULL = defaults; limits above the
 * protocol's maxima are clamped.  NULL if out of memory or ops->send is
 * NULL.  ops is copied; ctx is passed to every callback. */
struct gnt_store *gnt_store_create(const struct gnt_store_ops *ops, void *ctx,
				   const struct gnt_store_limits *lim);
/* Frees everything, open connections included (no callbacks). */
void gnt_store_destroy(struct gnt_store *s);

/* A connection of domain `domid` (< 0x7FF0).  privileged: dom0's and the
 * local socket's connections; it bypasses permissions and quotas.
 * Returns 0 and the id (never 0) in *conn; -EINVAL for a bad domid; -ENOSPC
 * when `connections` are open; -ENOMEM. */
int gnt_store_conn_open(struct gnt_store *s, uint16_t domid, bool privileged,
			uint32_t *conn);
/* Drop the connection, its watches and its open transactions (aborted).
 * Unknown ids are ignored, so this is idempotent. */
void gnt_store_conn_close(struct gnt_store *s, uint32_t conn);

/* One decoded request of connection `conn`.  Exactly one reply is sent
 * through ops->send before this returns 0 (a GNT_XS_ERROR reply is still a
 * reply); watch events for any connection may be sent too, for a watch
 * registration after its reply, otherwise before it.  Payloads are binary:
 * string arguments are NUL-terminated inside it as A.7 lays out.
 * tx_id: 0 or a transaction of this connection; an unknown one gets ENOENT
 * for the message types that work inside transactions (READ, WRITE, MKDIR,
 * RM, DIRECTORY, DIRECTORY_PART, GET_PERMS, SET_PERMS, TRANSACTION_START,
 * TRANSACTION_END) and is ignored by the others.
 * Returns 0, or without any reply: -EBADF for an unknown conn, -EMSGSIZE
 * for len > payload_max (Xen drops such a connection: so should gntd). */
int gnt_store_request(struct gnt_store *s, uint32_t conn, uint32_t type,
		      uint32_t req_id, uint32_t tx_id, const void *payload,
		      uint32_t len);

/* gntd as toolstack: mark domid introduced, create /local/domain/<domid>
 * with its "domid" and "name" children, all owned by the domain with no
 * access for others (dom0 reads them by privilege), and fire
 * @introduceDomain.  Returns 0; -EINVAL for domid 0, >= 0x7FF0 or a name
 * that is not a printable string of 1..63 bytes; -EEXIST if already
 * introduced; -ENOMEM (nothing changed). */
int gnt_store_domain_introduce(struct gnt_store *s, uint16_t domid,
			       const char *name);
/* Release everything of domid: close its connections (conn_gone), drop its
 * watches, transactions and target, remove /local/domain/<domid> (watches
 * fire), give what it still owns elsewhere to dom0, strike it from every
 * permission list (so a later domain with the same id inherits nothing),
 * mark it not introduced and fire @releaseDomain.  Returns 0, or -ENOENT if
 * it was not introduced (nothing changed), -EINVAL for domid 0. */
int gnt_store_domain_release(struct gnt_store *s, uint16_t domid);

/* Introspection, for tests and invariant checks. */
struct gnt_store_stats {
	uint32_t nodes;        /* in the committed tree, "/" included */
	uint32_t connections, watches, transactions;
};
void gnt_store_stats(const struct gnt_store *s, struct gnt_store_stats *st);
/* Nodes domid owns (what its node quota counts). */
uint32_t gnt_store_domain_nodes(const struct gnt_store *s, uint16_t domid);
bool gnt_store_domain_introduced(const struct gnt_store *s, uint16_t domid);
/* Recount nodes per owner and watches per domain from scratch and compare
 * with the running counters: 0 if equal, -EIO if not. */
int gnt_store_check(const struct gnt_store *s);
/* The Xen error name of a negative or positive errno ("EINVAL" for errnos
 * Xen's list lacks). */
const char *gnt_store_errname(int err);

#endif
