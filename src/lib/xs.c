/* SPDX-License-Identifier: MIT */
/* lib/xs.c - xenstore client (gnt/xs.h) over xs_wire. */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gnt/control.h"
#include "gnt/xs.h"

#define XS_HDR 16u
#define XS_MAX 4096u
enum { T_DIRECTORY = 1, T_READ = 2, T_WATCH = 4, T_UNWATCH = 5, T_TX_START = 6, T_TX_END = 7,
       T_WRITE = 11, T_MKDIR = 12, T_RM = 13, T_SET_PERMS = 14, T_WATCH_EVENT = 15,
       T_ERROR = 16 };

struct event {
	struct event *next;
	uint32_t len;
	char data[];
};

struct gnt_xs {
	int fd;
	bool lost;      /* the store (gntd) closed the connection: fail-stop */
	uint32_t req_id;
	struct event *head, *tail;
};

static const struct {
	const char *name;
	int err;
} errs[] = {{"EINVAL", EINVAL}, {"EACCES", EACCES}, {"EEXIST", EEXIST}, {"EISDIR", EISDIR},
	    {"ENOENT", ENOENT}, {"ENOMEM", ENOMEM}, {"ENOSPC", ENOSPC}, {"EIO", EIO},
	    {"ENOTEMPTY", ENOTEMPTY}, {"ENOSYS", ENOSYS}, {"EROFS", EROFS}, {"EBUSY", EBUSY},
	    {"EAGAIN", EAGAIN}, {"EISCONN", EISCONN}, {"E2BIG", E2BIG}, {"EPERM", EPERM}};

static int errno_of(const char *name)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (!strcmp(name, errs[i].name))
			return errs[i].err;
	return EINVAL; /* as libxenstore: unknown names are EINVAL */
}

gnt_xs *gnt_xs_open(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *env = getenv("XENSTORED_PATH");
	gnt_xs *xs;
	int fd;

	if (env && *env) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", env);
	} else {
		int id = getenv("GNT_FD") ? gnt_domid() : 0;
		if (id < 0) {
			errno = -id;
			return NULL;
		}
		if (id == 0)
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/xenstored.sock",
				 gnt_runtime_dir());
		else
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/xs-d%d.sock",
				 gnt_runtime_dir(), id);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno == ECONNREFUSED ? ENOENT : errno;
		close(fd);
		errno = e;
		return NULL;
	}
	xs = calloc(1, sizeof(*xs));
	if (!xs) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	xs->fd = fd;
	return xs;
}

void gnt_xs_close(gnt_xs *xs)
{
	if (!xs)
		return;
	while (xs->head) {
		struct event *e = xs->head;
		xs->head = e->next;
		free(e);
	}
	close(xs->fd);
	free(xs);
}

int gnt_xs_fd(gnt_xs *xs)
{
	return xs->fd;
}

static int read_full(int fd, void *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)b + got, n - got);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

/* One message: header into h, payload into a malloc'd buffer (NUL added). */
static int read_msg(gnt_xs *xs, uint32_t h[4], char **payload)
{
	int err = read_full(xs->fd, h, XS_HDR);
	char *p;

	if (err)
		return err;
	if (h[3] > XS_MAX)
		return -EPROTO;
	p = malloc(h[3] + 1);
	if (!p)
		return -ENOMEM;
	err = read_full(xs->fd, p, h[3]);
	if (err) {
		free(p);
		return err;
	}
	p[h[3]] = 0;
	*payload = p;
	return 0;
}

static void queue_event(gnt_xs *xs, char *p, uint32_t len)
{
	struct event *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return; /* a lost event: watches may be spurious, not silent... */
	memcpy(e->data, p, len + 1);
	e->len = len;
	e->next = NULL;
	if (xs->tail)
		xs->tail->next = e;
	else
		xs->head = e;
	xs->tail = e;
}

/* Send one request (parts concatenated) and wait for its reply; the
 * connection's own errors as they are (-EPIPE: the send, -ECONNRESET: the
 * reply), which the drop-in libxenstore tells apart as Xen does. */
static int request_raw(gnt_xs *xs, uint32_t type, uint32_t tx, const struct iovec *iov, int n,
		   char **reply, uint32_t *rlen)
{
	uint32_t h[4] = {type, ++xs->req_id, tx, 0};
	struct iovec v[8];
	int err;

	if (n > 7)
		return -EINVAL;
	v[0] = (struct iovec){h, XS_HDR};
	for (int i = 0; i < n; i++) {
		v[i + 1] = iov[i];
		h[3] += (uint32_t)iov[i].iov_len;
	}
	if (h[3] > XS_MAX)
		return -E2BIG;
	{
		struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n + 1};
		ssize_t w;
		do /* at most 4112 bytes: one sendmsg on a stream socket */
			w = sendmsg(xs->fd, &mh, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			return -errno;
		if ((size_t)w != XS_HDR + h[3])
			return -EIO;
	}
	for (;;) {
		uint32_t r[4];
		char *p;
		err = read_msg(xs, r, &p);
		if (err)
			return err;
		if (r[0] == T_WATCH_EVENT) {
			queue_event(xs, p, r[3]);
			free(p);
			continue;
		}
		if (r[0] == T_ERROR) {
			err = -errno_of(p);
			free(p);
			return err;
		}
		if (r[0] != type) {
			free(p);
			return -EPROTO;
		}
		if (reply) {
			*reply = p;
			if (rlen)
				*rlen = r[3];
		} else {
			free(p);
		}
		return 0;
	}
}

/* A lost connection (gntd gone) is -ESHUTDOWN for this and every later
 * call, as for libgnt's hypercalls (design.md, "gntd's death"). */
static int lost(gnt_xs *xs, int err)
{
	if (err == -ECONNRESET || err == -EPIPE)
		xs->lost = true;
	return xs->lost ? -ESHUTDOWN : err;
}

static int request(gnt_xs *xs, uint32_t type, uint32_t tx, const struct iovec *iov, int n,
		   char **reply, uint32_t *rlen)
{
	return lost(xs, xs->lost ? 0 : request_raw(xs, type, tx, iov, n, reply, rlen));
}

int gnt_xs_request(gnt_xs *xs, uint32_t type, uint32_t tx, const struct iovec *iov, int n,
		   char **reply, unsigned int *len)
{
	uint32_t l = 0;
	int err;

	if (n < 0)
		return -EINVAL;
	err = request_raw(xs, type, tx, iov, n, reply, &l);
	if (!err && len)
		*len = l;
	return err;
}

#define STR(s) ((struct iovec){(void *)(s), strlen(s) + 1})

char *gnt_xs_read(gnt_xs *xs, uint32_t tx, const char *path, unsigned int *len)
{
	struct iovec v[1] = {STR(path)};
	char *p = NULL;
	uint32_t l = 0;
	int err = request(xs, T_READ, tx, v, 1, &p, &l);

	if (err) {
		errno = -err;
		return NULL;
	}
	if (len)
		*len = l;
	return p;
}

int gnt_xs_write(gnt_xs *xs, uint32_t tx, const char *path, const void *data, unsigned int len)
{
	struct iovec v[2] = {STR(path), {(void *)data, len}};
	return request(xs, T_WRITE, tx, v, 2, NULL, NULL);
}

int gnt_xs_mkdir(gnt_xs *xs, uint32_t tx, const char *path)
{
	struct iovec v[1] = {STR(path)};
	return request(xs, T_MKDIR, tx, v, 1, NULL, NULL);
}

int gnt_xs_rm(gnt_xs *xs, uint32_t tx, const char *path)
{
	struct iovec v[1] = {STR(path)};
	return request(xs, T_RM, tx, v, 1, NULL, NULL);
}

char **gnt_xs_directory(gnt_xs *xs, uint32_t tx, const char *path, unsigned int *num)
{
	struct iovec v[1] = {STR(path)};
	char *p = NULL, **out;
	uint32_t l = 0, n = 0;
	int err = request(xs, T_DIRECTORY, tx, v, 1, &p, &l);

	if (err) {
		errno = -err;
		return NULL;
	}
	for (uint32_t i = 0; i < l; i++)
		n += p[i] == 0;
	/* one block: the pointers, then the names */
	out = malloc((n + 1) * sizeof(char *) + l + 1);
	if (!out) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	{
		char *names = (char *)(out + n + 1);
		memcpy(names, p, l + 1);
		for (uint32_t i = 0, k = 0; k < n; k++) {
			out[k] = names + i;
			i += (uint32_t)strlen(names + i) + 1;
		}
		out[n] = NULL;
	}
	free(p);
	*num = n;
	return out;
}

int gnt_xs_set_perms(gnt_xs *xs, uint32_t tx, const char *path, const char *const *perms,
		     unsigned int n)
{
	char buf[XS_MAX];
	size_t off = 0;
	struct iovec v[2];

	for (unsigned int i = 0; i < n; i++) {
		size_t l = strlen(perms[i]) + 1;
		if (off + l > sizeof(buf))
			return -E2BIG;
		memcpy(buf + off, perms[i], l);
		off += l;
	}
	v[0] = STR(path);
	v[1] = (struct iovec){buf, off};
	return request(xs, T_SET_PERMS, tx, v, 2, NULL, NULL);
}

int gnt_xs_watch(gnt_xs *xs, const char *path, const char *token)
{
	struct iovec v[2] = {STR(path), STR(token)};
	return request(xs, T_WATCH, 0, v, 2, NULL, NULL);
}

int gnt_xs_unwatch(gnt_xs *xs, const char *path, const char *token)
{
	struct iovec v[2] = {STR(path), STR(token)};
	return request(xs, T_UNWATCH, 0, v, 2, NULL, NULL);
}

int gnt_xs_read_watch(gnt_xs *xs, char **path, char **token, void **block, int timeout_ms)
{
	while (!xs->head) {
		struct pollfd pf = {.fd = xs->fd, .events = POLLIN};
		uint32_t r[4];
		char *p;
		int err, n = xs->lost ? 1 : poll(&pf, 1, timeout_ms);

		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0)
			return -errno;
		err = lost(xs, xs->lost ? 0 : read_msg(xs, r, &p));
		if (err)
			return err;
		if (r[0] == T_WATCH_EVENT)
			queue_event(xs, p, r[3]);
		free(p); /* a reply to nothing of ours: ignore */
	}
	{
		struct event *e = xs->head;
		size_t pl = strnlen(e->data, e->len);
		xs->head = e->next;
		if (!xs->head)
			xs->tail = NULL;
		*path = e->data;
		*token = pl < e->len ? e->data + pl + 1 : e->data + pl;
		*block = e; /* e->data lives in it: free(block) frees both */
	}
	return 0;
}

uint32_t gnt_xs_transaction_start(gnt_xs *xs)
{
	struct iovec v[1] = {{(void *)"", 1}};
	char *p = NULL;
	int err = request(xs, T_TX_START, 0, v, 1, &p, NULL);
	unsigned long id;

	if (err) {
		errno = -err;
		return 0;
	}
	id = strtoul(p, NULL, 10);
	free(p);
	if (!id)
		errno = EPROTO;
	return (uint32_t)id;
}

int gnt_xs_transaction_end(gnt_xs *xs, uint32_t tx, bool abort)
{
	struct iovec v[1] = {{(void *)(abort ? "F" : "T"), 2}};
	return request(xs, T_TX_END, tx, v, 1, NULL, NULL);
}
