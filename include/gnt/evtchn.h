/* SPDX-License-Identifier: MIT */
/*
 * gnt/evtchn.h - event channels for a process of a gnt domain, in the shape
 * of Xen's xenevtchn (libxenevtchn): a handle holds ports, one pollable
 * descriptor reports them, gnt_evtchn_pending() returns a pending port and
 * masks it, gnt_evtchn_unmask() re-arms it (and re-delivers it if an event
 * came meanwhile).  A notify on a bound port goes straight to the peer
 * process, without gntd: a bit in shared memory and a byte on the peer's
 * doorbell.  Masking and unmasking are kept in the process (no system call).
 *
 * Return values: >= 0 or a negative errno.  Errors of Xen's hypercall:
 * -EINVAL bad or unbound port for bind/close, -ESRCH no such domain,
 * -ENOSPC no free port (at most 4096 per domain, Xen's 2-level limit).
 * Handles are not shared across fork(): in a child every call on the
 * parent's handle but gnt_evtchn_close (which only frees the child's copy)
 * returns -EBADF; a child opens its own.  A handle is not thread-safe; use
 * one per thread or lock.  Events may be spurious (as in Xen): a port can
 * be reported pending with nothing sent, and the descriptor can be readable
 * with no port pending (a former peer may still ring it).
 *
 * gntd's death (docs/design.md, "gntd's death"): once the process knows,
 * every call on every handle returns -ESHUTDOWN (gnt_evtchn_open: NULL,
 * errno ESHUTDOWN), bound ports included, and a gnt_evtchn_wait asleep in
 * it is woken to return -ESHUTDOWN (a library thread watches gntd while the
 * process has handles).  Handles made before gnt_close() / a new gntd stay
 * refused so.
 */
#ifndef GNT_EVTCHN_H
#define GNT_EVTCHN_H

#include <stdint.h>

/* Xen's types, identical to gnt/xen.h's and Xen's own headers' (a repeated
 * identical typedef is valid C11), so Xen-compatible code that includes
 * Debian's <xen/...> headers can use this header. */
typedef uint16_t domid_t;
typedef uint32_t evtchn_port_t;
struct evtchn_status;

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gnt_evtchn_handle gnt_evtchn_handle;

/* NULL with errno on failure. */
gnt_evtchn_handle *gnt_evtchn_open(void);
/* Closes every port of the handle (their peers see them unbound). */
int gnt_evtchn_close(gnt_evtchn_handle *h);
/* Readable while a port of the handle is pending and unmasked (and
 * sometimes without: spurious wake-ups).  Blocking, as Linux's
 * /dev/xen/evtchn; the caller may set O_NONBLOCK on it (gnt_evtchn_wait
 * then never blocks).  Owned by the handle. */
int gnt_evtchn_fd(gnt_evtchn_handle *h);
/* A new unbound port that domain `remote` may bind to; the port. */
int gnt_evtchn_bind_unbound_port(gnt_evtchn_handle *h, domid_t remote);
/* Bind to remote's unbound port; the new local port, already pending. */
int gnt_evtchn_bind_interdomain(gnt_evtchn_handle *h, domid_t remote,
				evtchn_port_t remote_port);
/* Signal the peer of port.  Unbound: silently dropped (0), as Xen. */
int gnt_evtchn_notify(gnt_evtchn_handle *h, evtchn_port_t port);
int gnt_evtchn_unbind(gnt_evtchn_handle *h, evtchn_port_t port);
/* A pending port (now masked), or -EAGAIN when none.  Never blocks.  While
 * more ports are pending the descriptor stays readable. */
int gnt_evtchn_pending(gnt_evtchn_handle *h);
/* A pending port (now masked), waiting for one: xenevtchn_pending on a
 * blocking descriptor (one read of the descriptor per sleep, no other
 * system call).  Woken by a ring with nothing behind it, it returns a live
 * unmasked port as a spurious event rather than sleep again (a caller that
 * polled the descriptor first must not block).  -EAGAIN at once if the
 * caller made the descriptor O_NONBLOCK and none is pending; -EINTR if a
 * signal interrupted the wait. */
int gnt_evtchn_wait(gnt_evtchn_handle *h);
int gnt_evtchn_unmask(gnt_evtchn_handle *h, evtchn_port_t port);
/* EVTCHNOP_status / EVTCHNOP_reset as Xen's hypercall. */
int gnt_evtchn_status(struct evtchn_status *st);
int gnt_evtchn_reset(domid_t dom);

#ifdef __cplusplus
}
#endif
#endif
