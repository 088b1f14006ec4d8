/* SPDX-License-Identifier: MIT */
/*
 * gnt/vchan.h - a byte/packet channel between two domains over granted
 * pages and an event channel, wire-compatible with Xen's libxenvchan: the
 * same shared page (struct vchan_interface), ring placement, xenstore keys
 * (<xs_path>/ring-ref, <xs_path>/event-channel) and unmap-notify offsets, so
 * a gnt vchan can talk to libxenvchan running on gnt's Xen-compatible
 * libraries.
 *
 * The server (the domain that grants the pages) calls gnt_vchan_server_init;
 * the client (in domain `peer`) calls gnt_vchan_client_init with the same
 * xs_path.  Each side's process death is seen by the other: gntd clears the
 * dead side's live byte and sends an event.
 *
 * Conventions (whole file), as libxenvchan's, so that its drop-in can be a
 * thin wrapper: functions returning int return >= 0 on success or -1 with
 * errno set:
 *   EPIPE   the peer has closed or died (and no data is left to read)
 *   EPROTO  the peer broke the protocol (an index it wrote is out of range);
 *           the channel is dead from then on (is_open() == 0)
 *   EINVAL  a size larger than the ring (send/recv), or bad arguments
 *   EAGAIN  never: non-blocking calls return 0 instead
 * A channel is not thread-safe (one thread at a time, reading and writing
 * included).  After fork() only the parent may use it: the child must not
 * touch it, not even to close it (its pages and ports are the parent's).
 * Sizes above INT_MAX are clamped to INT_MAX.
 */
#ifndef GNT_VCHAN_H
#define GNT_VCHAN_H

#include <stddef.h>

#include "gnt/xen.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gnt_vchan;

/* Server side.  Grants a ring page (and data pages for rings over 2 KiB) to
 * `peer`, binds an unbound event channel for it and writes
 * <xs_path>/ring-ref and <xs_path>/event-channel (decimal) with permissions
 * [n<self>, r<peer>].  The read ring gets at least read_min bytes, the write
 * ring at least write_min bytes (powers of two from 1024 to 1 MiB, placed as
 * libxenvchan does).  Returns NULL with errno on failure (EINVAL: a size over
 * 1 MiB; ENOMEM; ENOSPC: no grant refs or ports; EACCES: xs_path not
 * writable); nothing is left behind then.  The channel is in non-blocking
 * mode; is_open() returns 2 until the client connects. */
struct gnt_vchan *gnt_vchan_server_init(domid_t peer, const char *xs_path, size_t read_min,
					size_t write_min);
/* Client side: reads the keys the server of domain `peer` wrote under
 * xs_path, maps its pages, binds its event channel and tells the server.
 * NULL with errno on failure (ENOENT: keys absent; EPROTO: the shared page
 * is malformed - orders out of 10..20, overlapping rings, grant list too
 * long; EACCES / EPERM: not granted to us).  Non-blocking mode. */
struct gnt_vchan *gnt_vchan_client_init(domid_t peer, const char *xs_path);
/* Tell the peer we are gone, unmap / end the grants (a server's grants the
 * client still maps are ended later by libgnt's deferred-end thread, and
 * their data pages then stay allocated in this process), close the event
 * channel, and (server) remove xs_path.  NULL is fine. */
void gnt_vchan_close(struct gnt_vchan *ctrl);

/* Blocking mode (1) or not (0, the default).  In blocking mode recv/send
 * wait until the whole size fits, read until at least one byte is there,
 * write until all of data is written; they still return -1/EPIPE as soon as
 * the peer is gone.  Waits spin for a few tens of microseconds, then sleep
 * on the event channel. */
void gnt_vchan_set_blocking(struct gnt_vchan *ctrl, int blocking);
int gnt_vchan_get_blocking(const struct gnt_vchan *ctrl);

/* Packet mode: exactly size bytes, or 0 when (non-blocking) not that much
 * is there / free.  -1 EINVAL if size exceeds the ring. */
int gnt_vchan_recv(struct gnt_vchan *ctrl, void *data, size_t size);
int gnt_vchan_send(struct gnt_vchan *ctrl, const void *data, size_t size);
/* Stream mode: up to size bytes; the count (0 when non-blocking and
 * nothing is there / no space). */
int gnt_vchan_read(struct gnt_vchan *ctrl, void *data, size_t size);
int gnt_vchan_write(struct gnt_vchan *ctrl, const void *data, size_t size);

/* Wait for an event on the channel (a notify from the peer, or its death),
 * consume it and re-arm: 0, or -1 with errno.  For select/poll loops: poll
 * gnt_vchan_fd_for_select(), call gnt_vchan_wait(), then read/write
 * non-blocking.  The descriptor belongs to the channel. */
int gnt_vchan_wait(struct gnt_vchan *ctrl);
int gnt_vchan_fd_for_select(struct gnt_vchan *ctrl);

/* 0 closed, crashed or broken; 1 open; 2 server whose client has not
 * connected yet. */
int gnt_vchan_is_open(struct gnt_vchan *ctrl);
/* Bytes ready to read / free to write now (0 on a broken channel). */
int gnt_vchan_data_ready(struct gnt_vchan *ctrl);
int gnt_vchan_buffer_space(struct gnt_vchan *ctrl);

#ifdef __cplusplus
}
#endif
#endif
