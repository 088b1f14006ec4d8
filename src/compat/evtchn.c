/* SPDX-License-Identifier: MIT */
/*
 * compat/evtchn.c - libxenevtchn.so.1 (Xen 4.17's interface in Debian's
 * <xenevtchn.h>) over libgnt's event channel handles (gnt/evtchn.h).
 * Errors are -1 with errno as Linux's /dev/xen/evtchn gives them to Xen's
 * library; what is the kernel's per-descriptor state there (the domain
 * restriction) is the handle's here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <xenevtchn.h>

#include "gnt/evtchn.h"

#define UNRESTRICTED       (-1)
#define EVTCHN_2L_CHANNELS 4096u /* Linux: a port beyond is EINVAL, not ENOTCONN */
#define DOMID_RESERVED     0x7FF0u

struct xenevtchn_handle {
	gnt_evtchn_handle *h;
	int restrict_domid;
};

static int fail(int err)
{
	errno = err;
	return -1;
}

static int ret(int rc)
{
	return rc < 0 ? fail(-rc) : rc;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	xenevtchn_handle *x;

	(void)logger;
	if (flags & ~(unsigned int)XENEVTCHN_NO_CLOEXEC) {
		errno = EINVAL;
		return NULL;
	}
	x = malloc(sizeof(*x));
	if (!x)
		return NULL;
	x->restrict_domid = UNRESTRICTED;
	x->h = gnt_evtchn_open();
	if (!x->h) {
		free(x);
		return NULL;
	}
	if (flags & XENEVTCHN_NO_CLOEXEC)
		fcntl(gnt_evtchn_fd(x->h), F_SETFD, 0);
	return x;
}

/* A gnt handle is more than a descriptor (gntd holds its state), so one
 * cannot be rebuilt from an inherited descriptor. */
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned int open_flags)
{
	(void)logger;
	(void)fd;
	errno = open_flags ? EINVAL : EOPNOTSUPP;
	return NULL;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	if (!xce)
		return 0;
	gnt_evtchn_close(xce->h);
	free(xce);
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	return gnt_evtchn_fd(xce->h);
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	int rc = gnt_evtchn_notify(xce->h, port);

	/* Linux: a port not bound through this descriptor */
	return rc == -EINVAL ? fail(ENOTCONN) : ret(rc);
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid)
{
	if (xce->restrict_domid != UNRESTRICTED)
		return fail(EACCES);
	if (domid > UINT16_MAX)
		return fail(EINVAL); /* Linux would truncate it to another domain */
	return ret(gnt_evtchn_bind_unbound_port(xce->h, (domid_t)domid));
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
						     evtchn_port_t remote_port)
{
	if (xce->restrict_domid != UNRESTRICTED && (uint32_t)xce->restrict_domid != domid)
		return fail(EACCES);
	if (domid > UINT16_MAX)
		return fail(EINVAL);
	return ret(gnt_evtchn_bind_interdomain(xce->h, (domid_t)domid, remote_port));
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
	(void)virq;
	/* gnt has no virtual IRQs (differences-from-xen.md) */
	return fail(xce->restrict_domid != UNRESTRICTED ? EACCES : ENOSYS);
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	int rc = gnt_evtchn_unbind(xce->h, port);

	if (rc == -EINVAL)
		return fail(port >= EVTCHN_2L_CHANNELS ? EINVAL : ENOTCONN);
	return ret(rc);
}

/* Linux's read() of one port: blocks unless the descriptor is O_NONBLOCK. */
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	return ret(gnt_evtchn_wait(xce->h));
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	/* Linux's write() skips ports that are not this descriptor's */
	gnt_evtchn_unmask(xce->h, port);
	return 0;
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
	if (xce->restrict_domid != UNRESTRICTED)
		return fail(EACCES);
	if (domid >= DOMID_RESERVED)
		return fail(EINVAL);
	xce->restrict_domid = domid;
	return 0;
}
