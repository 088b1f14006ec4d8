/* SPDX-License-Identifier: MIT */
/*
 * compat/xenstore.c - libxenstore.so.4, the drop-in: every VERS_4.0 call of
 * Xen 4.17's libxenstore (xenstore.h, xenstore_lib.h) with Xen's return
 * values and errno, over libgnt's store client (gnt/xs.h).
 *
 * Threading follows libxenstore: a handle may be shared by threads, one
 * request at a time; the first xs_watch starts a thread that moves watch
 * events from the connection to the handle's queue (xs_read_watch waits on
 * it; xs_fileno's pipe holds one byte while it is non-empty).  Unlike Xen's
 * reader thread, ours never reads replies: a request reads its own reply
 * under the request lock (libgnt queues events met on the way, and we
 * move them over before unlocking), and the thread only reads while no
 * request is in flight, when all that can arrive is an event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "gnt/xs.h"

struct event {
	struct event *next;
	unsigned int len; /* of data: "path\0token\0" */
	char data[];
};

struct xs_handle {
	gnt_xs *xs;
	pthread_mutex_t io; /* one request at a time; only its holder uses xs */
	pthread_mutex_t wlock; /* head, tail, pipe, dead */
	pthread_cond_t wcond;
	struct event *head, **tail;
	int pipe[2];  /* xs_fileno(); -1 until asked for */
	int stop[2];  /* xs_close() wakes the pump through it */
	bool filter;  /* XS_UNWATCH_FILTER */
	bool dead;    /* connection lost or out of step: EBADF from now on */
	bool pumping;
	pthread_t pump;
};

/* ---- the watch-event queue (wlock held) ---------------------------------- */

static void push_event(struct xs_handle *h, struct event *e)
{
	char c = 0;

	e->next = NULL;
	if (!h->head && h->pipe[1] >= 0)
		while (write(h->pipe[1], &c, 1) != 1 && errno == EINTR)
			;
	*h->tail = e;
	h->tail = &e->next;
	pthread_cond_broadcast(&h->wcond);
}

static void unlink_event(struct xs_handle *h, struct event **pp)
{
	struct event *e = *pp;
	char c;

	*pp = e->next;
	if (h->tail == &e->next)
		h->tail = pp;
	if (!h->head && h->pipe[0] >= 0)
		while (read(h->pipe[0], &c, 1) != 1 && errno == EINTR)
			;
}

static void mark_dead(struct xs_handle *h)
{
	pthread_mutex_lock(&h->wlock);
	h->dead = true;
	pthread_cond_broadcast(&h->wcond);
	pthread_mutex_unlock(&h->wlock);
}

/* Move events libgnt holds (or that wait on the socket) to our queue.
 * io held.  Returns 0, or the error that ended the connection. */
static int drain(struct xs_handle *h)
{
	for (;;) {
		char *path, *token;
		void *block;
		size_t pl, tl;
		struct event *e;
		int err = gnt_xs_read_watch(h->xs, &path, &token, &block, 0);

		if (err)
			return err == -ETIMEDOUT ? 0 : err;
		pl = strlen(path) + 1;
		tl = strlen(token) + 1;
		e = malloc(sizeof(*e) + pl + tl);
		if (e) { /* else lost: a watch may be spurious, and now silent */
			memcpy(e->data, path, pl);
			memcpy(e->data + pl, token, tl);
			e->len = (unsigned int)(pl + tl);
			pthread_mutex_lock(&h->wlock);
			push_event(h, e);
			pthread_mutex_unlock(&h->wlock);
		}
		free(block);
	}
}

static void *pump(void *arg)
{
	struct xs_handle *h = arg;

	for (;;) {
		struct pollfd pf[2] = {{.fd = gnt_xs_fd(h->xs), .events = POLLIN},
				       {.fd = h->stop[0], .events = POLLIN}};
		int err;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			return NULL;
		pthread_mutex_lock(&h->io);
		err = h->dead ? -EBADF : drain(h);
		pthread_mutex_unlock(&h->io);
		if (err)
			break;
	}
	mark_dead(h);
	return NULL;
}

/* ---- requests --------------------------------------------------------------- */

/* One request; the reply NUL-terminated and malloc'd, *len without the NUL.
 * NULL with errno: the store's error, E2BIG over 4096 bytes, EPIPE when the
 * request could not be sent, EBADF when the reply did not come or was not
 * one, and EBADF for every request after either. */
static char *talk(struct xs_handle *h, uint32_t type, uint32_t tx, const struct iovec *iov, int n,
		  unsigned int *len)
{
	char *reply = NULL;
	unsigned int l = 0;
	int err;

	pthread_mutex_lock(&h->io);
	err = h->dead ? -EBADF : gnt_xs_request(h->xs, type, tx, iov, n, &reply, &l);
	if (err == -EPROTO || err == -ECONNRESET || err == -EPIPE) {
		/* as Xen: a failed send says why (EPIPE), a lost or out-of-step
		 * reply is EBADF, and the connection is closed for good */
		if (err != -EPIPE)
			err = -EBADF;
		mark_dead(h);
	} else if (!h->dead && drain(h)) {
		mark_dead(h);
	}
	pthread_mutex_unlock(&h->io);
	if (err) {
		errno = -err;
		return NULL;
	}
	if (len)
		*len = l;
	return reply;
}

#define STR(s) ((struct iovec){(void *)(s), strlen(s) + 1})

static char *single(struct xs_handle *h, xs_transaction_t t, uint32_t type, const char *s,
		    unsigned int *len)
{
	struct iovec v[1] = {STR(s)};
	return talk(h, type, t, v, 1, len);
}

static char *single_domid(struct xs_handle *h, uint32_t type, unsigned int domid)
{
	char s[16];

	snprintf(s, sizeof(s), "%u", domid);
	return single(h, XBT_NULL, type, s, NULL);
}

static bool ok(char *reply)
{
	free(reply);
	return reply != NULL;
}

static void free_keep_errno(void *p)
{
	int e = errno;
	free(p);
	errno = e;
}

static unsigned int count_strings(const char *s, unsigned int len)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < len; i++)
		n += s[i] == 0;
	return n;
}

/* ---- opening and closing ------------------------------------------------ */

struct xs_handle *xs_open(unsigned long flags)
{
	struct xs_handle *h = calloc(1, sizeof(*h));

	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->xs = gnt_xs_open();
	if (!h->xs)
		goto err_free;
	if (pipe2(h->stop, O_CLOEXEC) < 0)
		goto err_close;
	h->pipe[0] = h->pipe[1] = -1;
	h->tail = &h->head;
	h->filter = flags & XS_UNWATCH_FILTER;
	pthread_mutex_init(&h->io, NULL);
	pthread_mutex_init(&h->wlock, NULL);
	pthread_cond_init(&h->wcond, NULL);
	return h;

err_close:
	gnt_xs_close(h->xs);
err_free:
	free_keep_errno(h);
	return NULL;
}

struct xs_handle *xs_daemon_open(void)
{
	return xs_open(0);
}

struct xs_handle *xs_daemon_open_readonly(void)
{
	return xs_open(0);
}

struct xs_handle *xs_domain_open(void)
{
	return xs_open(0);
}

/* Everything but the pump thread: also what a forked child may free. */
static void free_handle(struct xs_handle *h)
{
	while (h->head) {
		struct event *e = h->head;
		h->head = e->next;
		free(e);
	}
	for (int i = 0; i < 2; i++) {
		if (h->pipe[i] >= 0)
			close(h->pipe[i]);
		close(h->stop[i]);
	}
	gnt_xs_close(h->xs);
	free(h);
}

void xs_daemon_destroy_postfork(struct xs_handle *h)
{
	free_handle(h); /* the pump is the parent's: it does not exist here */
}

void xs_daemon_close(struct xs_handle *h)
{
	if (h->pumping) {
		char c = 0;
		while (write(h->stop[1], &c, 1) != 1 && errno == EINTR)
			;
		pthread_join(h->pump, NULL);
	}
	pthread_mutex_destroy(&h->io);
	pthread_mutex_destroy(&h->wlock);
	pthread_cond_destroy(&h->wcond);
	free_handle(h);
}

void xs_close(struct xs_handle *h)
{
	if (h)
		xs_daemon_close(h);
}

/* ---- nodes ------------------------------------------------------------------ */

/* Xen's layout: *num pointers, then the names, in one block (no NULL). */
static char **directory_block(char *strings, unsigned int len, unsigned int *num)
{
	unsigned int n = count_strings(strings, len);
	char **v = malloc(n * sizeof(char *) + len + 1);
	char *p;

	if (!v) {
		free(strings);
		errno = ENOMEM;
		return NULL;
	}
	p = (char *)(v + n);
	memcpy(p, strings, len);
	free(strings);
	for (unsigned int i = 0; i < n; i++) {
		v[i] = p;
		p += strlen(p) + 1;
	}
	*num = n;
	return v;
}

/* A directory too big for one reply, in DIRECTORY_PART chunks: each reply
 * is "<generation>\0<names>", the last chunk's names end in an extra NUL;
 * a generation change means the node changed: start again. */
static char **directory_part(struct xs_handle *h, xs_transaction_t t, const char *path,
			     unsigned int *num)
{
	char gen[24] = "", *strings = NULL;
	unsigned int off = 0;

	for (;;) {
		char offs[16], *r, *grown;
		unsigned int rl, gl;
		struct iovec v[2] = {STR(path), {offs, 0}};

		snprintf(offs, sizeof(offs), "%u", off);
		v[1].iov_len = strlen(offs) + 1;
		r = talk(h, XS_DIRECTORY_PART, t, v, 2, &rl);
		if (!r) {
			if (errno == ENOSYS)
				errno = E2BIG;
			free_keep_errno(strings);
			return NULL;
		}
		gl = (unsigned int)strnlen(r, rl);
		if (gl == rl || (off && strcmp(gen, r))) { /* malformed, or restart */
			free(r);
			free(strings);
			strings = NULL;
			if (gl == rl) {
				errno = EIO;
				return NULL;
			}
			off = 0;
			continue;
		}
		snprintf(gen, sizeof(gen), "%s", r);
		rl -= gl + 1;
		grown = realloc(strings, off + rl + 1);
		if (!grown) {
			free(r);
			free(strings);
			errno = ENOMEM;
			return NULL;
		}
		strings = grown;
		memcpy(strings + off, r + gl + 1, rl);
		free(r);
		off += rl;
		if (off <= 1 || strings[off - 2] == 0)
			break;
	}
	if (off > 1)
		off--; /* the final chunk's extra NUL */
	return directory_block(strings, off, num);
}

char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
		    unsigned int *num)
{
	unsigned int len;
	char *strings = single(h, t, XS_DIRECTORY, path, &len);

	if (!strings)
		return errno == E2BIG ? directory_part(h, t, path, num) : NULL;
	return directory_block(strings, len, num);
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
{
	return single(h, t, XS_READ, path, len);
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path, const void *data,
	      unsigned int len)
{
	struct iovec v[2] = {STR(path), {(void *)data, len}};
	return ok(talk(h, XS_WRITE, t, v, 2, NULL));
}

bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return ok(single(h, t, XS_MKDIR, path, NULL));
}

bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return ok(single(h, t, XS_RM, path, NULL));
}

/* ---- permissions -------------------------------------------------------- */

bool xs_strings_to_perms(struct xs_permissions *perms, unsigned int num, const char *strings)
{
	const char *p = strings;

	for (unsigned int i = 0; i < num; i++) {
		char *end;

		switch (*p) {
		case 'n': perms[i].perms = XS_PERM_NONE; break;
		case 'r': perms[i].perms = XS_PERM_READ; break;
		case 'w': perms[i].perms = XS_PERM_WRITE; break;
		case 'b': perms[i].perms = XS_PERM_READ | XS_PERM_WRITE; break;
		default:
			errno = EINVAL;
			return false;
		}
		p++;
		/* as Xen: strtol base 0 ("r0x10" is domain 16), digits required,
		 * nothing after them */
		perms[i].id = (unsigned int)strtol(p, &end, 0);
		if (*end || !*p) {
			errno = EINVAL;
			return false;
		}
		p = end + 1;
	}
	return true;
}

/* Xen's xenstore_perm_to_string: READ/WRITE (IGNORE is dropped), else
 * EINVAL. */
static bool perm_to_string(const struct xs_permissions *p, char *buf, size_t n)
{
	static const char letter[] = {'n', 'r', 'w', 'b'};
	unsigned int bits = p->perms & ~(unsigned int)XS_PERM_IGNORE;

	if (bits & ~(unsigned int)(XS_PERM_READ | XS_PERM_WRITE)) {
		errno = EINVAL;
		return false;
	}
	snprintf(buf, n, "%c%i", letter[bits], (int)p->id);
	return true;
}

struct xs_permissions *xs_get_permissions(struct xs_handle *h, xs_transaction_t t,
					  const char *path, unsigned int *num)
{
	unsigned int len, n;
	char *strings = single(h, t, XS_GET_PERMS, path, &len);
	struct xs_permissions *p;

	if (!strings)
		return NULL;
	n = count_strings(strings, len);
	p = malloc(n * sizeof(*p) + 1);
	if (!p || !xs_strings_to_perms(p, n, strings)) {
		if (!p)
			errno = ENOMEM;
		free_keep_errno(p);
		free_keep_errno(strings);
		return NULL;
	}
	free(strings);
	*num = n;
	return p;
}

bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
			struct xs_permissions *perms, unsigned int num_perms)
{
	enum { ONE = 16 }; /* a letter, a signed int, the NUL */
	char *buf;
	size_t off = 0;
	bool r;

	if (num_perms > XENSTORE_PAYLOAD_MAX / 3) { /* "n0\0" is the shortest */
		errno = E2BIG;
		return false;
	}
	buf = malloc((size_t)num_perms * ONE + 1);
	if (!buf) {
		errno = ENOMEM;
		return false;
	}
	for (unsigned int i = 0; i < num_perms; i++) {
		if (!perm_to_string(&perms[i], buf + off, ONE)) {
			free(buf);
			return false;
		}
		off += strlen(buf + off) + 1;
	}
	{
		struct iovec v[2] = {STR(path), {buf, off}};
		r = ok(talk(h, XS_SET_PERMS, t, v, 2, NULL));
	}
	free_keep_errno(buf);
	return r;
}

bool xs_restrict(struct xs_handle *h, unsigned int domid)
{
	return false; /* removed in Xen 4.9: always false */
}

/* ---- watches -------------------------------------------------------------- */

static bool start_pump(struct xs_handle *h)
{
	sigset_t all, old;
	pthread_attr_t attr;
	bool started = true;

	pthread_mutex_lock(&h->io);
	if (!h->pumping) {
		if (pthread_attr_init(&attr)) {
			pthread_mutex_unlock(&h->io);
			return false;
		}
		pthread_attr_setstacksize(&attr, 64 * 1024);
		/* signals stay with the application's threads, as in Xen */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		started = pthread_create(&h->pump, &attr, pump, h) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		h->pumping = started;
	}
	pthread_mutex_unlock(&h->io);
	return started;
}

bool xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	struct iovec v[2] = {STR(path), STR(token)};

	if (!start_pump(h))
		return false;
	return ok(talk(h, XS_WATCH, XBT_NULL, v, 2, NULL));
}

int xs_fileno(struct xs_handle *h)
{
	char c = 0;

	pthread_mutex_lock(&h->wlock);
	if (h->pipe[0] < 0 && pipe2(h->pipe, O_CLOEXEC) == 0 && h->head)
		while (write(h->pipe[1], &c, 1) != 1 && errno == EINTR)
			;
	pthread_mutex_unlock(&h->wlock);
	return h->pipe[0];
}

/* The next event as Xen's vector: pointers to path and token, then the
 * strings, one block. */
static char **read_watch(struct xs_handle *h, unsigned int *num, bool nonblocking)
{
	struct event *e;
	char **v, *s;
	unsigned int n;

	pthread_mutex_lock(&h->wlock);
	while (!h->head && !h->dead) {
		if (nonblocking) {
			pthread_mutex_unlock(&h->wlock);
			errno = EAGAIN;
			return NULL;
		}
		pthread_cond_wait(&h->wcond, &h->wlock);
	}
	e = h->head;
	if (!e) {
		pthread_mutex_unlock(&h->wlock);
		errno = EINVAL; /* as Xen when the connection has gone */
		return NULL;
	}
	unlink_event(h, &h->head);
	pthread_mutex_unlock(&h->wlock);

	n = count_strings(e->data, e->len);
	v = malloc(n * sizeof(char *) + e->len);
	if (!v) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	s = (char *)(v + n);
	memcpy(s, e->data, e->len);
	free(e);
	for (unsigned int i = 0; i < n; i++) {
		v[i] = s;
		s += strlen(s) + 1;
	}
	if (num)
		*num = n;
	return v;
}

char **xs_read_watch(struct xs_handle *h, unsigned int *num)
{
	return read_watch(h, num, false);
}

char **xs_check_watch(struct xs_handle *h)
{
	unsigned int num;
	return read_watch(h, &num, true);
}

bool xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
	struct iovec v[2] = {STR(path), STR(token)};
	bool r = ok(talk(h, XS_UNWATCH, XBT_NULL, v, 2, NULL));
	int e = errno;

	if (!h->filter)
		return r;
	pthread_mutex_lock(&h->wlock);
	for (struct event **pp = &h->head; *pp;) {
		struct event *ev = *pp;
		const char *epath = ev->data, *etoken = ev->data + strlen(ev->data) + 1;

		if (!strcmp(etoken, token) && xs_path_is_subpath(path, epath)) {
			unlink_event(h, pp);
			free(ev);
		} else {
			pp = &ev->next;
		}
	}
	pthread_mutex_unlock(&h->wlock);
	errno = e;
	return r;
}

/* ---- transactions --------------------------------------------------------- */

xs_transaction_t xs_transaction_start(struct xs_handle *h)
{
	char *id = single(h, XBT_NULL, XS_TRANSACTION_START, "", NULL);
	xs_transaction_t t;

	if (!id)
		return XBT_NULL;
	t = (xs_transaction_t)strtoul(id, NULL, 0);
	free(id);
	return t;
}

bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
	return ok(single(h, t, XS_TRANSACTION_END, abort ? "F" : "T", NULL));
}

/* ---- domains and control ------------------------------------------------ */

bool xs_introduce_domain(struct xs_handle *h, unsigned int domid, unsigned long mfn,
			 unsigned int eventchn)
{
	char d[16], m[24], e[16];
	struct iovec v[3] = {{d, 0}, {m, 0}, {e, 0}};

	v[0].iov_len = (size_t)snprintf(d, sizeof(d), "%u", domid) + 1;
	v[1].iov_len = (size_t)snprintf(m, sizeof(m), "%lu", mfn) + 1;
	v[2].iov_len = (size_t)snprintf(e, sizeof(e), "%u", eventchn) + 1;
	return ok(talk(h, XS_INTRODUCE, XBT_NULL, v, 3, NULL));
}

bool xs_set_target(struct xs_handle *h, unsigned int domid, unsigned int target)
{
	char d[16], t[16];
	struct iovec v[2] = {{d, 0}, {t, 0}};

	v[0].iov_len = (size_t)snprintf(d, sizeof(d), "%u", domid) + 1;
	v[1].iov_len = (size_t)snprintf(t, sizeof(t), "%u", target) + 1;
	return ok(talk(h, XS_SET_TARGET, XBT_NULL, v, 2, NULL));
}

bool xs_release_domain(struct xs_handle *h, unsigned int domid)
{
	return ok(single_domid(h, XS_RELEASE, domid));
}

bool xs_resume_domain(struct xs_handle *h, unsigned int domid)
{
	return ok(single_domid(h, XS_RESUME, domid));
}

char *xs_get_domain_path(struct xs_handle *h, unsigned int domid)
{
	return single_domid(h, XS_GET_DOMAIN_PATH, domid);
}

bool xs_is_domain_introduced(struct xs_handle *h, unsigned int domid)
{
	char *r = single_domid(h, XS_IS_DOMAIN_INTRODUCED, domid);
	bool yes = r && strcmp(r, "F") != 0;

	free(r);
	return yes;
}

char *xs_control_command(struct xs_handle *h, const char *cmd, void *data, unsigned int len)
{
	struct iovec v[2] = {STR(cmd), {data, len}};
	return talk(h, XS_CONTROL, XBT_NULL, v, 2, NULL);
}

char *xs_debug_command(struct xs_handle *h, const char *cmd, void *data, unsigned int len)
{
	return xs_control_command(h, cmd, data, len);
}

int xs_suspend_evtchn_port(int domid)
{
	char path[64], *s;
	unsigned int len = 0;
	int port = -1;
	struct xs_handle *h = xs_daemon_open();

	if (!h)
		return -1;
	snprintf(path, sizeof(path), "/local/domain/%d/device/suspend/event-channel", domid);
	s = xs_read(h, XBT_NULL, path, &len);
	xs_daemon_close(h);
	if (s && len)
		port = atoi(s);
	free(s);
	return port;
}

/* ---- xenstore_lib.h ---------------------------------------------------------- */

const char *xs_daemon_rundir(void)
{
	const char *s = getenv("XENSTORED_RUNDIR");
	return s ? s : "/var/run/xenstored";
}

const char *xs_daemon_socket(void)
{
	static char buf[4096];
	const char *s = getenv("XENSTORED_PATH");

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "%s/socket", xs_daemon_rundir());
	return buf;
}

const char *xs_daemon_socket_ro(void)
{
	return xs_daemon_socket(); /* one socket since Xen 4.16 */
}

bool xs_write_all(int fd, const void *data, unsigned int len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (unsigned int)w;
	}
	return true;
}

bool xs_path_is_subpath(const char *parent, const char *child)
{
	size_t pl = strlen(parent), cl = strlen(child);

	if (cl < pl || memcmp(child, parent, pl))
		return false;
	return cl == pl || child[pl] == '/';
}
