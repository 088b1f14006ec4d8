/* SPDX-License-Identifier: MIT */
/* tests/helpers.h - a private gntd per test and processes in domains. */
#ifndef GNT_TEST_HELPERS_H
#define GNT_TEST_HELPERS_H

#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"
#include "gnt/gnt.h"
#include "runner.h"

/* Start gntd on the test's runtime directory (it dies with the test). */
void th_gntd_start(void);
/* The same with extra gntd options (NULL-terminated). */
void th_gntd_start_args(const char *const *args);
/* Stop it; fails the test unless gntd exited with status 0 (so sanitizer
 * reports in gntd fail the test). */
void th_gntd_stop(void);
/* gntd's pid (from its pid file), 0 if unknown. */
pid_t th_gntd_pid(void);
/* Create a domain; returns its id. */
uint32_t th_domain(const char *name);
uint32_t th_domain_cfg(const char *name, const struct gnt_domain_config *cfg);
/* Fork a process of domain `dom` running fn(arg); it exits 0 when fn returns.
 * The child runs under the domain's uid (when root), holds no socket of the
 * parent but the domain descriptor ($GNT_FD), and is connected (gnt_open)
 * before fn runs. */
pid_t th_spawn(uint32_t dom, void (*fn)(void *), void *arg);
/* Fork a process of dom0 (this test's own domain) running fn(arg). */
pid_t th_spawn_dom0(void (*fn)(void *), void *arg);
/* Wait for pid; returns its exit status, or 128+signal. */
int th_wait(pid_t pid);
/* Pipes between test processes: a pair of fds, both ends inherited.
 * th_recv fails the test after TH_CHAN_TIMEOUT_MS without data, or at once
 * when gntd or a process from th_spawn (not yet th_wait'ed) has ended with
 * a signal or a non-zero status. */
#define TH_CHAN_TIMEOUT_MS 20000
struct th_chan {
	int rd, wr;
};
void th_chan_open(struct th_chan *c);
void th_chan_close(struct th_chan *c);
void th_send(struct th_chan *c, const void *buf, size_t n);
void th_recv(struct th_chan *c, void *buf, size_t n);
void th_send_u32(struct th_chan *c, uint32_t v);
uint32_t th_recv_u32(struct th_chan *c);
/* th_recv_u32, failing at once if child `watch` ends first. */
uint32_t th_recv_u32_from(struct th_chan *c, pid_t watch);
/* The grant table version the suite runs at: 2 when $GNT_GRANT_VERSION is
 * "2" (libgnt then switches every domain to v2 as it connects), else 1. */
int th_grant_version(void);
/* Stats from gntd (dom0). */
struct gnt_hv_stats th_stats(void);
struct gnt_domain_info th_dominfo(uint32_t dom);
/* 1 if domain dom exists (alive or dying), its info in *out (may be NULL). */
int th_domain_exists(uint32_t dom, struct gnt_domain_info *out);
/* Wait up to timeout_ms until domain dom is gone (th_wait_domain_gone)
 * or dying, a zombie, state 2 (th_wait_domain_dying); else fail the test. */
void th_wait_domain_gone(uint32_t dom, int timeout_ms);
void th_wait_domain_dying(uint32_t dom, int timeout_ms);
/* SIGKILL pid (a child) and reap it; fails unless the signal killed it. */
void th_kill_wait(pid_t pid);
/* Wait until cond() or timeout; returns cond's last value. */
int th_until(int (*cond)(void *), void *arg, int timeout_ms);
/* The next pending port of h (polling its fd), or fail after 5 s. */
int th_evtchn_wait(gnt_evtchn_handle *h);
/* No event on h for ms milliseconds (checked every 10 ms, and once after). */
void th_evtchn_quiet(gnt_evtchn_handle *h, int ms);

/* ---- accounting ------------------------------------------------------ */

/* Wait (up to timeout_ms) until gntd's frames, units, mappings, pins,
 * exposures, zombies, live domains and open descriptors equal those in
 * `start`; then check each, failing the test with the first difference. */
void th_expect_stats(const struct gnt_hv_stats *start, int timeout_ms);
/* Fail unless the two snapshots agree on everything but hypercalls. */
void th_check_same_stats(const struct gnt_hv_stats *a, const struct gnt_hv_stats *b);

/* ---- a quick end-to-end check that gntd serves domains a and b ---------- */

/* A fresh process of a grants a page to b, a fresh process of b maps it RW,
 * checks the contents, writes back, unmaps; a ends the grant.  Fails the
 * test on any error. */
void th_share_once(uint32_t a, uint32_t b);
/* th_share_once between two new domains (gone again when it returns: their
 * processes have exited). */
void th_share_fresh(void);

/* ---- raw protocol (hostile tests) --------------------------------------- */

/* Send one message: header m (magic/len/nfds as given, unchecked), payload
 * of plen bytes, fds as SCM_RIGHTS.  Returns 0 or -errno. */
int th_raw_send(int fd, const struct gnt_msg *m, const void *payload, size_t plen, const int *fds,
		unsigned int nfds);
/* Receive one reply: header into *m, up to cap payload bytes into buf (the
 * rest is discarded), descriptors closed unless fds != NULL (then up to
 * *nfds kept, *nfds set).  Returns 1 with a message, 0 on EOF, -ETIMEDOUT,
 * or -errno. */
int th_raw_recv(int fd, struct gnt_msg *m, void *buf, size_t cap, int *fds, unsigned int *nfds,
		int timeout_ms);
/* 1 once the peer has closed fd (read returns EOF or ECONNRESET; replies
 * before that are discarded), 0 if still open after timeout_ms. */
int th_peer_closed(int fd, int timeout_ms);
/* In a domain process: a new private connection made through $GNT_FD with
 * a hand-made ATTACH.  Returns the socket or fails the test. */
int th_raw_attach(void);
/* In a domain process: this domain's grant table mapped read-write straight
 * from gntd (INFO on a raw connection); *nframes = max frames. */
grant_entry_v1_t *th_raw_table(uint32_t *nframes);

/* In a domain process: the v2 status frames' descriptor from a raw INFO
 * (-1 while the domain has never been at v2). */
int th_raw_status_fd(void);

/* On a raw connection of a domain process: map ref of dom with GNTMAP_*
 * flags by hand, keeping the descriptor gntd sends (*fd) and the page of it
 * that is the grant (*page).  Returns the handle, or a negative GNTST_*
 * status (then *fd is -1). */
int th_raw_map(int conn, uint32_t dom, uint32_t ref, uint32_t flags, int *fd, uint32_t *page);
/* Unmap handle on conn; fails the test unless gntd answers GNTST_okay. */
void th_raw_unmap(int conn, uint32_t handle);

/* ---- probing memory without faulting ------------------------------------ */

/* 1 if this process can read (write) the byte at p, 0 if the kernel refuses
 * (EFAULT).  Uses a pipe, so a refused access never raises a signal;
 * th_can_write writes back the byte that is there (content unchanged). */
int th_can_read(const void *p);
int th_can_write(void *p);

#endif
