/* SPDX-License-Identifier: MIT */
/*
 * tests/compat/xv.h - Debian's libxenvchan seen through plain C types, so
 * that tests can include gnt's headers (Xen's <xen/...> headers, which
 * libxenvchan.h pulls in, define the same structs).  xv.c is compiled
 * against /usr/include/libxenvchan.h.
 */
#ifndef GNT_TESTS_XV_H
#define GNT_TESTS_XV_H

#include <stddef.h>
#include <stdint.h>

struct xv;
/* libxenvchan_server_init / client_init, blocking; NULL on failure. */
struct xv *xv_server(int peer, const char *path, size_t ring);
struct xv *xv_client(int peer, const char *path);
/* Stream total bytes of a pattern (salt picks it): 0 or the failing offset + 1. */
uint32_t xv_send(struct xv *v, uint32_t total, uint32_t salt, uint32_t chunk);
uint32_t xv_recv(struct xv *v, uint32_t total, uint32_t salt, uint32_t chunk);
/* libxenvchan_is_open; xv_wait_state: wait until is_open != state. */
int xv_is_open(struct xv *v);
void xv_wait_state(struct xv *v, int state);
void xv_close(struct xv *v);

#endif
