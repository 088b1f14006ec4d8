/* SPDX-License-Identifier: MIT */
/*
 * common/proto.h - the wire between libgnt (a domain process) and gntd.
 * One AF_UNIX SOCK_STREAM connection per process.  Every message is a
 * struct gnt_msg followed by `len` payload bytes; descriptors travel as
 * SCM_RIGHTS on the message's first byte.  Requests are answered in order,
 * one at a time.  Payloads of hypercalls are arrays of Xen's own structs.
 * gntd copies a request in completely before looking at it, so a client
 * cannot change what is being checked; a malformed request drops the
 * connection.  docs/protocol.md describes each message.
 */
#ifndef GNT_PROTO_H
#define GNT_PROTO_H

#include <stdatomic.h>
#include <stdint.h>

#define GNT_PROTO_MAGIC 0x676e7401u /* "gnt" v1 */
#define GNT_MSG_MAX_PAYLOAD (16u << 20)
#define GNT_MSG_MAX_FDS 253
#define GNT_MAP_BATCH_MAX 65536u

enum gnt_msg_op {
	GNT_MSG_INFO = 1,      /* -> struct gnt_info + table fd */
	GNT_MSG_ATTACH,        /* fd: a socket end; becomes this domain's new
				  connection.  No reply on this connection. */
	GNT_MSG_HYPERCALL,     /* cmd = family << 16 | op; count elements */
	GNT_MSG_SETTLE,        /* count = a ref of ours that is busy: settle the
				  exposures that only keep it pinned until the
				  kernel confirms their mapper let go */
	GNT_MSG_EVTCHN_OPEN,   /* fd: the handle's control socket (SOCK_DGRAM, gntd
				  writes) -> rc = handle id */
	GNT_MSG_EVTCHN_CLOSE,  /* count = handle id: its ports close */
	GNT_MSG_UNMAP_NOTIFY,  /* struct gnt_unmap_notify: set or (flags 0)
				  clear what gntd does when a mapping or a
				  grant of this process goes away */
	GNT_MSG_FRAME = 8,     /* u64 gfn of the caller's memory -> struct
				  gnt_frame + its unit's fd (read-write) */
	GNT_MSG_SHARE,         /* struct gnt_share (+ refs): a gntalloc share
				  becomes this connection's, or ends */
	GNT_MSG_GNTDEV_LIMITS, /* struct gnt_gntdev_limits: read / set a
				  domain's gntalloc and gntdev limits */
	/* control: the control domain (dom0) only */
	GNT_MSG_DOM_CREATE = 32, /* struct gnt_dom_create -> rc = domid */
	GNT_MSG_DOM_DESTROY,   /* count = domid */
	GNT_MSG_DOM_LIST,      /* -> struct gnt_dom_info[] */
	GNT_MSG_DOM_TOKEN,     /* count = domid -> fd + struct gnt_token */
	GNT_MSG_DOM_GRANTS,    /* count = domid -> struct gnt_grant_info[] */
	GNT_MSG_STATS,         /* -> struct gnt_stats */
	GNT_MSG_SHUTDOWN,
	GNT_MSG_DOM_LOOKUP,    /* payload name -> rc = domid */
};

struct gnt_msg {
	uint32_t magic;
	uint32_t op;
	uint32_t cmd;
	uint32_t count;
	uint32_t len;   /* payload bytes */
	int32_t rc;     /* reply: the call's return (0 / -errno / count) */
	uint32_t nfds;  /* descriptors attached */
	uint32_t aux;
};
_Static_assert(sizeof(struct gnt_msg) == 32, "gnt_msg");

#define GNT_HC(family, op) ((uint32_t)(family) << 16 | (uint32_t)(op))

/* Event channels (docs/design.md "Event channels").  HYPERCALL with family
 * __HYPERVISOR_event_channel_op carries the handle id in aux.  Each handle
 * has a doorbell (a pipe: its owner reads, others may only write) and
 * inboxes (struct gnt_evtchn_inbox, sealed 4 KiB memfds): inbox(H, D)
 * holds the pending bits domain D sets for H's ports bound to it; the
 * ginbox of H holds gntd's.  Replies attach:
 *   EVTCHN_OPEN:      [bell read end (blocking), bell read end (a second,
 *                      O_NONBLOCK description), a bell write end, ginbox]
 *   alloc_unbound:    none (the inbox comes with PEER)
 *   bind_interdomain: [inbox(ours, peer domain) to scan, inbox(peer handle,
 *                      our domain) to signal, the peer handle's bell write
 *                      end for our domain]; aux = the peer handle's id
 *   send:             none (gntd sets the bit in the peer's ginbox)
 * gntd -> handle control datagrams (struct gnt_evtchn_ctl); gntd increments
 * the ginbox's gen after queueing each one:
 *   PEER    port: someone bound to our unbound port; the three descriptors
 *           of the bind reply, seen from our side
 *   UNBOUND port: the binding ended (the port is unbound again); the port
 *           is also set pending in the ginbox
 *   CLOSED  port: the port is no longer this handle's (EVTCHNOP_reset closed
 *           it under us); nothing of it may be reported any more */
#define GNT_EVTCHN_NR_PORTS 4096u /* Xen's 2-level ABI on 64-bit */
enum { GNT_EVCTL_PEER = 1, GNT_EVCTL_UNBOUND = 3, GNT_EVCTL_CLOSED = 4 };
struct gnt_evtchn_ctl {
	uint32_t kind;
	uint32_t port;
	uint32_t peer_port;   /* PEER */
	uint32_t peer_handle; /* PEER */
	uint32_t peer_dom;    /* PEER */
	uint32_t pad;
};
_Static_assert(sizeof(struct gnt_evtchn_ctl) == 24, "gnt_evtchn_ctl");
#define GNT_EVCTL_PEER_FDS 3

/* An inbox: Xen's 2-level layout.  Writers set a port's bit, then its
 * word's summary bit, then ring the owner's bell; the owner clears both.
 * The first words share the summary's cache line, so that an event on
 * ports 0..383 moves one line between sender and owner, not two. */
struct gnt_evtchn_inbox {
	_Atomic uint64_t summary;  /* [SENDER sets, OWNER clears] bit i: word i may have bits */
	_Atomic uint64_t gen;      /* [GNTD] ginbox only: control messages queued */
	_Atomic uint64_t word[GNT_EVTCHN_NR_PORTS / 64]; /* [SENDER sets, OWNER clears] */
};
_Static_assert(sizeof(struct gnt_evtchn_inbox) == 528, "gnt_evtchn_inbox");
_Static_assert(__builtin_offsetof(struct gnt_evtchn_inbox, word) == 16, "inbox word");
#define GNT_EVTCHN_INBOX_BYTES 4096u

/* UNMAP_NOTIFY: one per (kind, id) per connection; setting again replaces.
 * flags: GNT_UNMAP_NOTIFY_CLEAR_BYTE (1) clear the byte at `offset` of the
 * frame, GNT_UNMAP_NOTIFY_SEND_EVENT (2) send an event on `port` (a port of
 * the caller's domain: the event goes to its peer).  docs/protocol.md. */
enum { GNT_UNMAP_NOTIFY_MAPPING = 1, GNT_UNMAP_NOTIFY_GRANT = 2 };
#define GNT_UNMAP_NOTIFY_MAX 4096u /* per connection */
struct gnt_unmap_notify {
	uint32_t kind;   /* GNT_UNMAP_NOTIFY_MAPPING / _GRANT */
	uint32_t id;     /* maptrack handle / grant ref */
	uint32_t offset; /* < 4096 */
	uint32_t flags;
	uint32_t port;
};
_Static_assert(sizeof(struct gnt_unmap_notify) == 20, "gnt_unmap_notify");

/* aux of a map_grant_ref HYPERCALL: the mappings made are this connection's
 * (gntdev's): gntd unmaps them when it closes, and the domain's gntdev
 * per-request limit applies to the batch. */
#define GNT_HC_OWNED 1u

/* SHARE: op OWN with count refs after the struct: the unit at gfn (count
 * pages, refs[i] granting page i) is a gntalloc share of this connection;
 * op END (count 0): end it now.  Either way gntd ends its grants (deferred
 * while mapped), frees the refs and then the unit; at the latest when the
 * connection closes.  docs/protocol.md. */
enum { GNT_SHARE_OWN = 1, GNT_SHARE_END = 2 };
struct gnt_share {
	uint32_t op;
	uint32_t count;
	uint64_t gfn;
	/* uint32_t refs[count] (OWN) */
};
_Static_assert(sizeof(struct gnt_share) == 16, "gnt_share");

/* GNTDEV_LIMITS: the reply is the struct with the current values. */
#define GNT_LIMIT_SET_ALLOC 1u
#define GNT_LIMIT_SET_DEV   2u
struct gnt_gntdev_limits {
	uint32_t domid;        /* DOMID_SELF, or (dom0) any live domain */
	uint32_t set;          /* GNT_LIMIT_SET_*: which of the two to set */
	uint32_t alloc_limit;  /* grants shared at once by the whole domain */
	uint32_t dev_limit;    /* grants in one gntdev map request */
	uint32_t alloc_in_use; /* reply: grants shared now */
	uint32_t pad;
};
_Static_assert(sizeof(struct gnt_gntdev_limits) == 24, "gnt_gntdev_limits");

/* INFO's reply attaches the table fd (read-write) and, once the domain
 * has been at v2, its status frames (read-only: sealed against writes). */
struct gnt_info {
	uint32_t domid;
	uint32_t max_frames;   /* table pages in the table fd */
	uint32_t nr_frames;
	uint32_t alloc_pages;  /* ref-allocation bitmap pages after the table */
	uint32_t max_maptrack;
	uint32_t version;      /* grant table version now (1 or 2) */
	uint64_t max_pages;
};

/* Reply tail of GNTTABOP_map_grant_ref, one per op: where the frame lives.
 * fd_index indexes the descriptors attached to the reply (-1: none). */
struct gnt_map_loc {
	int32_t fd_index;
	uint32_t page;
};

/* Reply of GNT_MSG_FRAME: the unit that holds the gfn. */
struct gnt_frame {
	uint64_t base_gfn;
	uint64_t npages;
};

/* Output units one XENMEM_exchange reply carries at most (descriptors). */
#define GNT_EXCHANGE_UNITS_MAX 512u

struct gnt_dom_create {
	char name[64];
	uint64_t max_pages;
	uint32_t max_grant_frames;
	uint32_t max_maptrack_frames;
};

struct gnt_dom_info {
	uint32_t domid;
	uint32_t state;        /* 1 alive, 2 dying (zombie) */
	char name[64];
	uint64_t tot_pages, max_pages;
	uint32_t nr_frames, max_frames;
	uint32_t entries_in_use;
	uint32_t mappings;     /* maptrack entries in use */
	uint32_t pins;         /* pins others hold on our entries */
	uint32_t procs;        /* connected processes */
	uint32_t units;
	uint32_t fds;          /* gntd's descriptors charged to it (budget) */
};

struct gnt_token {
	uint32_t domid;
	uint32_t uid, gid;     /* run the domain's processes as this (root only) */
	uint32_t pad;
};

struct gnt_grant_info {
	uint32_t ref;
	uint16_t flags, domid; /* the shared entry as read */
	uint32_t frame;
	uint8_t rd_pins, wr_pins;
	uint16_t pinned_by;
};

struct gnt_stats {
	uint32_t domains, zombies, units, fds;
	uint64_t frames, mappings, pins, exposures, connections;
	uint64_t hypercalls;
};

#endif
