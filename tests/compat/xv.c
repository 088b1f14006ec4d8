/* SPDX-License-Identifier: MIT */
/* tests/compat/xv.c - see xv.h.  Only Debian's headers here. */
#include <libxenvchan.h>
#include <stdlib.h>

#include "xv.h"

struct xv {
	struct libxenvchan *c;
};

static struct xv *wrap(struct libxenvchan *c)
{
	struct xv *v;

	if (!c)
		return NULL;
	v = malloc(sizeof(*v));
	if (!v)
		abort();
	c->blocking = 1;
	v->c = c;
	return v;
}

struct xv *xv_server(int peer, const char *path, size_t ring)
{
	return wrap(libxenvchan_server_init(NULL, peer, path, ring, ring));
}

struct xv *xv_client(int peer, const char *path)
{
	return wrap(libxenvchan_client_init(NULL, peer, path));
}

static uint8_t byte_at(uint32_t pos, uint32_t salt)
{
	return (uint8_t)((pos * 2654435761u + salt) >> 13);
}

uint32_t xv_send(struct xv *v, uint32_t total, uint32_t salt, uint32_t chunk)
{
	uint8_t *buf = malloc(chunk);

	for (uint32_t pos = 0; pos < total;) {
		uint32_t n = total - pos < chunk ? total - pos : chunk;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = byte_at(pos + i, salt);
		if (libxenvchan_write(v->c, buf, n) != (int)n) {
			free(buf);
			return pos + 1;
		}
		pos += n;
	}
	free(buf);
	return 0;
}

uint32_t xv_recv(struct xv *v, uint32_t total, uint32_t salt, uint32_t chunk)
{
	uint8_t *buf = malloc(chunk);

	for (uint32_t pos = 0; pos < total;) {
		int n = libxenvchan_read(v->c, buf, total - pos < chunk ? total - pos : chunk);
		if (n <= 0) {
			free(buf);
			return pos + 1;
		}
		for (int i = 0; i < n; i++)
			if (buf[i] != byte_at(pos + (uint32_t)i, salt)) {
				free(buf);
				return pos + (uint32_t)i + 1;
			}
		pos += (uint32_t)n;
	}
	free(buf);
	return 0;
}

int xv_is_open(struct xv *v)
{
	return libxenvchan_is_open(v->c);
}

void xv_wait_state(struct xv *v, int state)
{
	while (libxenvchan_is_open(v->c) == state)
		libxenvchan_wait(v->c);
}

void xv_close(struct xv *v)
{
	libxenvchan_close(v->c);
	free(v);
}
