/* SPDX-License-Identifier: MIT */
/* tests/helpers.h - a private gntd per test and processes in domains. */
#ifndef GNT_TEST_HELPERS_H
#define GNT_TEST_HELPERS_H

#include <stdint.h>
#include <sys/types.h>

#include "gnt/gnt.h"
#include "runner.h"

/* Start gntd on the test's runtime directory (it dies with the test). */
void th_gntd_start(void);
void th_gntd_stop(void);
/* Create a domain; returns its id. */
uint32_t th_domain(const char *name);
uint32_t th_domain_cfg(const char *name, const struct gnt_domain_config *cfg);
/* Fork a process of domain `dom` running fn(arg); it exits 0 when fn returns. */
pid_t th_spawn(uint32_t dom, void (*fn)(void *), void *arg);
/* Wait for pid; returns its exit status, or 128+signal. */
int th_wait(pid_t pid);
/* Pipes between test processes: a pair of fds, both ends inherited. */
struct th_chan {
	int rd, wr;
};
void th_chan_open(struct th_chan *c);
void th_chan_close(struct th_chan *c);
void th_send(struct th_chan *c, const void *buf, size_t n);
void th_recv(struct th_chan *c, void *buf, size_t n);
void th_send_u32(struct th_chan *c, uint32_t v);
uint32_t th_recv_u32(struct th_chan *c);
/* Stats from gntd (dom0). */
struct gnt_hv_stats th_stats(void);
struct gnt_domain_info th_dominfo(uint32_t dom);
/* Wait until cond() or timeout; returns cond's last value. */
int th_until(int (*cond)(void *), void *arg, int timeout_ms);

#endif
