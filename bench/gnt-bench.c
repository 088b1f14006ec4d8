/* SPDX-License-Identifier: MIT */
/*
 * bench/gnt-bench.c - gnt's figures beside raw baselines measured in the same
 * run, by the same processes, on the same CPUs.
 *
 * Setup (all private to this run): a runtime directory from mkdtemp, our own
 * gntd (GNT_NO_DAEMON=1 + gnt_hv_start), two domains:
 *   granter (domain A, CPU 1): allocates and grants every frame, then idles;
 *   mapper  (domain B, CPU 0): the client; it times everything below;
 *   raw server (plain process, on gntd's CPU): plays gntd's part for the
 *     baselines with a plain blocking read/write loop, no gnt code at all.
 * The mapper alternates gnt and raw blocks (round r: gnt first when r is even,
 * raw first when odd), takes the median of each block and reports the median
 * over blocks.
 *
 * What is measured (us per batch unless noted):
 *   hypercall_rtt   GNTTABOP_query_size through gnt_grant_table_op, against
 *                   unix_socket_rtt: a 32+16-byte request / 32+16-byte reply
 *                   over a socketpair to a blocking read()/write() server.
 *   map_N           gnt_map_refs + read one byte per page + gnt_unmap_refs
 *                   of N frames that are N separate 1-page units (gntd sends
 *                   N descriptors), against raw_fdpass_mmap_N: request, reply
 *                   with N memfds (SCM_RIGHTS, <= 253 a message), N mmap
 *                   MAP_FIXED into a reserved range, touch, close, re-reserve,
 *                   unmap message + ack.  Same message sizes as gnt's.
 *   map_N_unit      the same with the N frames in one N-page unit (one
 *                   descriptor, one mmap, MAP_POPULATE from 16 pages as
 *                   libgnt does), against the raw one-memfd equivalent.
 *   map_256MiB      one gnt_map_refs of 65536 refs to one 65536-page unit +
 *                   touch (unmap untimed), against raw_populate_256MiB: mmap
 *                   MAP_POPULATE of a populated 256 MiB memfd + touch; also
 *                   per page.
 *   *_same_cpu      hypercall_rtt and map_1 with the mapper moved onto gntd's
 *                   CPU (only when gntd is pinned elsewhere).
 *   evtchn_rtt      an event channel notify from the mapper, echoed by a
 *                   plain child of the granter; both sides wait as
 *                   libxenvchan does
 *                   (gnt_evtchn_wait, i.e. xenevtchn_pending on a blocking
 *                   fd, + unmask + notify), against eventfd_rtt: the same
 *                   ping-pong over two eventfds with a plain blocking echo
 *                   process on the granter's CPU.
 *   evtchn_floor_rtt the floor of gnt's mechanism without gnt: the same
 *                   ping-pong through 1-byte pipe bells and a pending bit +
 *                   summary bit in shared memory (fetch_or to send, exchange
 *                   to take), plain processes as eventfd_rtt's, against
 *                   eventfd_rtt; evtchn_rtt_vs_floor: evtchn_rtt against it.
 *                   evtchn_floor_futex_rtt: the same bits with a futex
 *                   wait/wake on their line in place of the pipe.  The four
 *                   alternate within each round.
 *   evtchn_rtt_poll the same in the poll shape of a libxenevtchn user with
 *                   an event loop (poll + gnt_evtchn_pending + unmask +
 *                   notify), against eventfd_poll_rtt: the eventfd ping-pong
 *                   with both sides polling before they read.  Informational
 *                   (the target is evtchn_rtt's).
 *   vchan_W_R       a gnt vchan stream granter -> mapper in W-byte writes
 *                   (64b, 4k, 64k) through an R-byte ring (64k, 1m), against
 *                   unix_stream_W: the same writes over a Unix stream socket
 *                   between the same two processes (the reader takes up to
 *                   64 KiB a call on both).  64-byte writes in millions of
 *                   writes/s, the others in GB/s; higher is better.  Targets:
 *                   vchan_64k_1m >= 2.5x, vchan_64b_1m >= 8x.
 *   vchan_rtt_64b   a 64-byte request from the mapper and the same 64 bytes
 *                   back from the granter's process, over the 64 KiB-ring
 *                   vchan (blocking send/recv), against unix_rtt_64b: the
 *                   same over the Unix socket.  Microseconds; informational
 *                   (it shows what the vchan's spinning costs or saves a
 *                   request/reply protocol).
 *   ring_ceiling_4k_64k  the ceiling of any two-copy 64 KiB ring on this
 *                   machine at 4 KiB writes: an ideal shared-memory byte ring
 *                   (indexes on lines of their own, reloaded only when short,
 *                   both sides spin, no notifications, no Xen layout), the
 *                   same processes and reads, against vchan_4k_64k measured
 *                   alternately; ring_ceiling_vs_xenvchan_4k: it against
 *                   xenvchan_4k (below 2, the 2x target at 4 KiB cannot be
 *                   met by any 64 KiB ring in that run).
 *                   ring_ceiling_64k_1m: the same with a 1 MiB ring and
 *                   64 KiB writes, against vchan_64k_1m;
 *                   ring_ceiling_vs_unix_64k: it against unix_stream_64k
 *                   (below 2.5, vchan_64k_1m's target cannot be met by any
 *                   1 MiB ring in that run).
 *   xenvchan_W      Debian's unmodified libxenvchan.so.4.17 on gnt's drop-ins
 *                   (bench/xenvchan-peer.c, a server and a client process in
 *                   two fresh domains, LD_LIBRARY_PATH=<bin>/../compat): the
 *                   same W-byte writes through a 64 KiB ring, against
 *                   unix_stream_W of this run.  vchan_vs_xenvchan_W: gnt's
 *                   own vchan_W_64k against it (target >= 2x).  Skipped
 *                   without xenvchan-peer beside gnt-bench.
 *   dir_1GiB        share + map + touch of 1 GiB (262144 pages) through a
 *                   grant-reference directory between two fresh domains (the
 *                   donor's gnt_dir_grant starts .. the recipient has read a
 *                   byte of every page), against raw_populate_1GiB: the
 *                   recipient's mmap MAP_POPULATE of a populated 1 GiB memfd
 *                   + the same touch.  Target <= 2x.  dir_per_page_N: the
 *                   same per page for N = 1 .. 262144, against
 *                   raw_per_page_N.
 *   cmp_A_N_*       gnt compare-sharing (gnt_compare_run) for approach A
 *                   (map, copy, transfer) and N pages: ms, hypercalls of
 *                   both domains (_hc), messages (_msgs); baseline the map approach's
 *                   figure for the same N.  Informational; --quick stops at
 *                   N = 4096.
 *   memcpy_64MiB, pipe_rtt: informational (their own baseline, ratio 1).
 *
 * Where gntd runs (--gntd-cpu): the raw server always runs on the same CPU as
 * gntd, so either placement is a fair comparison.  Default: CPU 1, opposite
 * the mapper (CPU 0) - the "cross-core" set-up of the reference baselines
 * (client CPU 0, broker CPU 1), and what a gntd serving many domains on many
 * CPUs sees.  gntd on the mapper's CPU (--gntd-cpu 0) is faster in absolute
 * terms on this 2-vCPU VM, for gnt and raw alike (a cross-vCPU wake-up costs
 * ~5-6 us each way here): measured hypercall_rtt 4.2 us vs 11-13 us, map_1
 * 16 us vs 28-33 us; the ratios to the raw baseline are also lower there
 * (hypercall 1.11-1.2x vs 1.2-1.35x), because an epoll server's extra cost
 * (readiness, then recvmsg) is mostly a cross-CPU one.  Unpinned behaves like
 * cross-core.  The *_same_cpu lines report the same-CPU figures in every run.
 *
 * Output: --json gives one object per line,
 *   {"bench":N,"value":X,"unit":U,"baseline":B,"baseline_value":Y,"ratio":X/Y,
 *    "target":T}  (T > 0: ratio at most T; T < 0: at least -T; 0: none)
 * otherwise an aligned table of the same figures (plus the target).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnt/compare.h"
#include "gnt/gnt.h"

#define PG 4096ul
#define HDR 32u                 /* the size of gnt's message header */
#define MAX_FDS_PER_MSG 253     /* SCM_MAX_FD */
#define MAP_OP_SZ sizeof(struct gnttab_map_grant_ref)     /* 32 */
#define UNMAP_OP_SZ sizeof(struct gnttab_unmap_grant_ref) /* 24 */
#define MAP_LOC_SZ 8u           /* gnt's per-op reply tail (fd index, page) */
#define QUERY_SZ sizeof(struct gnttab_query_size)         /* 16 */
#define POPULATE_MIN 16u        /* libgnt's MAP_POPULATE threshold (map.c) */
#define BIG_PAGES 65536u        /* 256 MiB */
#define MAX_N 1024u

/* ---- small helpers ------------------------------------------------------ */

static pid_t parent_pid;
static const char *only;   /* --only: comma-separated bench names */
static double scale = 1.0; /* --scale: iteration multiplier */

static bool want(const char *name)
{
	size_t l = strlen(name);
	for (const char *p = only; p && *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == l && !strncmp(p, name, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return !only;
}

static int scaled(int iters)
{
	double v = iters * scale;
	return v < 3 ? 3 : (int)v;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "gnt-bench[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, " (%s)", strerror(e));
	fputc('\n', stderr);
	if (getpid() == parent_pid)
		exit(1); /* atexit: cleanup() */
	_exit(1);
}
#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c))                                                          \
			die("%s:%d: check failed: %s", __FILE__, __LINE__, #c);    \
	} while (0)

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin_cpu(int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) < 0)
		die("sched_setaffinity(cpu %d)", cpu);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* sorts v */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		len -= (size_t)w;
	}
}

static void read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			die("read (peer gone?)");
		}
		p += r;
		len -= (size_t)r;
	}
}

static volatile uint64_t sink;

static inline uint8_t marker(uint32_t i)
{
	return (uint8_t)(i * 131u + 7u);
}

/* read one byte per page; verify the markers if asked */
static void touch(const char *va, uint32_t n, bool verify)
{
	uint64_t s = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t b = *(const volatile uint8_t *)(va + (size_t)i * PG);
		s += b;
		if (verify && b != marker(i))
			die("page %u: read %u, expected %u", i, b, marker(i));
	}
	sink += s;
}

/* ---- the raw baseline's wire: gnt's header size, plain syscalls ---------- */

enum { RAW_PING = 1, RAW_MAP_SEP, RAW_MAP_UNIT, RAW_UNMAP, RAW_PIPE, RAW_GET_BIG };

struct rhdr {
	uint32_t magic, op, count, len;
	int32_t rc;
	uint32_t nfds, aux, pad;
};
_Static_assert(sizeof(struct rhdr) == HDR, "raw header is gnt's header size");

/* send len bytes with nfds descriptors, at most 253 per sendmsg; every batch
 * but the last rides on one byte of its own (as gntd sends them) */
static void send_with_fds(int s, const uint8_t *buf, size_t len, const int *fds, uint32_t nfds)
{
	size_t off = 0;

	while (off < len) {
		uint32_t n = nfds > MAX_FDS_PER_MSG ? MAX_FDS_PER_MSG : nfds;
		size_t chunk = n && nfds > n ? 1 : len - off;
		union {
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MSG)];
			struct cmsghdr align;
		} cb;
		struct iovec iov = {(void *)(buf + off), chunk};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t w;

		if (n) {
			struct cmsghdr *cm;
			mh.msg_control = cb.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
		}
		w = sendmsg(s, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("sendmsg");
		fds += n;
		nfds -= n;
		off += (size_t)w;
	}
}

/* receive exactly len bytes (the expected reply), collecting descriptors */
static void recv_with_fds(int s, uint8_t *buf, size_t len, int *fds, uint32_t *nfds,
			  uint32_t max_fds)
{
	size_t got = 0;

	*nfds = 0;
	while (got < len) {
		union {
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MSG)];
			struct cmsghdr align;
		} cb;
		struct iovec iov = {buf + got, len - got};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b,
				    .msg_controllen = sizeof(cb.b)};
		ssize_t r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("recvmsg");
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *in = (int *)(void *)CMSG_DATA(cm);
			for (int i = 0; i < k; i++) {
				if (*nfds < max_fds)
					fds[(*nfds)++] = in[i];
				else
					close(in[i]);
			}
		}
		got += (size_t)r;
	}
}

/* ---- raw server ----------------------------------------------------------- */

struct raw_pool {
	int sep[MAX_N];   /* 1-page memfds */
	int unit16, unit1024;
	int big;          /* 256 MiB */
};

static int populated_memfd(uint32_t pages)
{
	static uint8_t chunk[256 * PG];
	int fd = memfd_create("raw-frames", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(pages * PG)) == 0);
	for (uint32_t p = 0; p < pages;) {
		uint32_t k = pages - p < 256 ? pages - p : 256;
		memset(chunk, 0, sizeof(chunk));
		for (uint32_t i = 0; i < k; i++)
			chunk[i * PG] = marker(p + i);
		CHECK(pwrite(fd, chunk, k * PG, (off_t)p * PG) == (ssize_t)(k * PG));
		p += k;
	}
	return fd;
}

static void raw_server(int s, int pipe_in, int pipe_out)
{
	static struct raw_pool pool;
	size_t cap = 4u << 20, have = 0;
	uint8_t *in = malloc(cap), *out = malloc(cap);

	CHECK(in && out);
	memset(out, 0, cap);
	for (uint32_t i = 0; i < MAX_N; i++)
		pool.sep[i] = populated_memfd(1); /* each holds marker(0) */
	pool.unit16 = populated_memfd(16);
	pool.unit1024 = populated_memfd(1024);
	pool.big = populated_memfd(BIG_PAGES);

	for (;;) {
		struct rhdr h, *rh = (struct rhdr *)(void *)out;
		ssize_t r;

		/* a plain blocking server: read what is there, until a request is
		 * complete (one read() per request in practice) */
		while (have < HDR || have < HDR + ((struct rhdr *)(void *)in)->len) {
			r = read(s, in + have, cap - have);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				_exit(0); /* the mapper is done */
			if (r < 0)
				die("raw server read");
			have += (size_t)r;
		}
		memcpy(&h, in, sizeof(h));
		CHECK(h.len <= cap - HDR);
		have -= HDR + h.len; /* requests are never pipelined */
		CHECK(have == 0);
		*rh = h;
		switch (h.op) {
		case RAW_PING:
		case RAW_UNMAP:
			/* echo the payload, as gntd returns the op array */
			memcpy(out + HDR, in + HDR, h.len);
			write_full(s, out, HDR + h.len);
			break;
		case RAW_MAP_SEP:
		case RAW_MAP_UNIT: {
			uint32_t n = h.count;
			const int *fds = pool.sep;
			uint32_t nfds = n;
			CHECK(n >= 1 && n <= MAX_N && h.len == n * MAP_OP_SZ);
			if (h.op == RAW_MAP_UNIT && n > 1) {
				CHECK(n == 16 || n == 1024);
				fds = n == 16 ? &pool.unit16 : &pool.unit1024;
				nfds = 1;
			}
			rh->len = n * (uint32_t)(MAP_OP_SZ + MAP_LOC_SZ);
			rh->nfds = nfds;
			send_with_fds(s, out, HDR + rh->len, fds, nfds);
			break;
		}
		case RAW_GET_BIG:
			rh->len = 0;
			rh->nfds = 1;
			send_with_fds(s, out, HDR, &pool.big, 1);
			break;
		case RAW_PIPE: {
			char c;
			for (uint32_t i = 0; i < h.count; i++) {
				read_full(pipe_in, &c, 1);
				write_full(pipe_out, &c, 1);
			}
			rh->len = 0;
			write_full(s, out, HDR);
			break;
		}
		default:
			die("raw server: op %u", h.op);
		}
	}
}

/* ---- granter (domain A) --------------------------------------------------- */

/* What the granter sends the mapper: every ref, in the order of struct refs. */
struct refs {
	uint32_t domid;        /* the granter's domid */
	uint32_t one;          /* a 1-page unit */
	uint32_t u16[16];      /* one 16-page unit */
	uint32_t u1024[1024];  /* one 1024-page unit */
	uint32_t sep[MAX_N];   /* 1024 1-page units */
	uint32_t big[BIG_PAGES]; /* one 65536-page unit */
	uint32_t evport;       /* the granter's unbound port for the mapper (wait echo) */
	uint32_t evport_poll;  /* another, echoed by the granter's poll loop */
};

/* The granter's echo of evtchn_rtt, as libxenvchan waits (in a child). */
static void *echo_wait(void *arg)
{
	gnt_evtchn_handle *h = arg;

	for (;;) {
		int p = gnt_evtchn_wait(h);
		if (p == -EINTR)
			continue;
		if (p < 0)
			return NULL;
		gnt_evtchn_unmask(h, (evtchn_port_t)p);
		gnt_evtchn_notify(h, (evtchn_port_t)p);
	}
}

/* eventfd ping-pong, the baseline of evtchn_rtt: made before the domains'
 * processes are forked; the granter's plain child echoes */
static int efd_ping = -1, efd_pong = -1;
/* the same in the poll shape (both sides poll, then read): evtchn_rtt_poll's
 * baseline */
static int efdp_ping = -1, efdp_pong = -1;

static void poll_in(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	while (poll(&pf, 1, -1) < 0)
		;
}

/* The floor of gnt's event channel mechanism without gnt: a 1-byte pipe
 * bell + a pending bit and its summary bit in a shared line (set with
 * fetch_or by the sender, taken with exchange by the receiver), between the
 * same two kinds of plain processes as eventfd_rtt.  fl_box[0] is the echo's
 * inbox, fl_box[1] the mapper's; fl_ping/fl_pong the bells.  The futex
 * floor: the same bits, with a futex on the line in place of the bell
 * (fl_box[2] and [3]), what the pipe's cost could be traded for. */
struct fl_box {
	_Alignas(64) _Atomic uint64_t summary, word;
	_Atomic uint32_t wake;
};
static struct fl_box *fl_box;
static int fl_ping[2] = {-1, -1}, fl_pong[2] = {-1, -1};

static void fl_notify(struct fl_box *b, int bell)
{
	if (!(atomic_fetch_or_explicit(&b->word, 1, memory_order_relaxed) & 1)) {
		atomic_fetch_or_explicit(&b->summary, 1, memory_order_release);
		(void)!write(bell, "", 1);
	}
}

static void flx_notify(struct fl_box *b)
{
	if (!(atomic_fetch_or_explicit(&b->word, 1, memory_order_relaxed) & 1)) {
		atomic_fetch_or_explicit(&b->summary, 1, memory_order_release);
		atomic_fetch_add(&b->wake, 1);
		syscall(SYS_futex, &b->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

static void flx_wait(struct fl_box *b)
{
	for (;;) {
		uint32_t v = atomic_load(&b->wake);
		if (atomic_exchange_explicit(&b->summary, 0, memory_order_acquire) &&
		    (atomic_fetch_and_explicit(&b->word, 0, memory_order_relaxed) & 1))
			return;
		syscall(SYS_futex, &b->wake, FUTEX_WAIT, v, NULL, NULL, 0);
	}
}

static void fl_wait(struct fl_box *b, int bell)
{
	char buf[64];

	for (;;) {
		if (atomic_exchange_explicit(&b->summary, 0, memory_order_acquire) &&
		    (atomic_fetch_and_explicit(&b->word, 0, memory_order_relaxed) & 1))
			return;
		if (read(bell, buf, sizeof(buf)) <= 0)
			_exit(0);
	}
}

/* vchan throughput and its baseline, a Unix stream socket between the same
 * two domains' processes: the granter's child sends what the mapper asks */
static int vc_cmd[2] = {-1, -1}, vc_unix[2] = {-1, -1};
struct vcmd {
	uint32_t mode;  /* 0 stop, 1 vchan, 2 unix, 3 vchan echo, 4 unix echo,
			 * 5 the ideal ring */
	uint32_t chunk; /* bytes per write */
	uint64_t total;
	uint32_t ring;  /* vchan: 0 the 1 MiB ring, 1 the 64 KiB one */
	uint32_t pad;
};
#define VC_PATH "/local/domain/%u/data/vchan/bench%u"
static const uint32_t vc_ring_bytes[2] = {1u << 20, 1u << 16};

/* The ceiling of any two-copy ring of a vchan's size here (mode 5): an
 * ideal single-producer single-consumer byte ring in shared memory of
 * vc_ring_bytes[c->ring] bytes, free-running indexes on lines of their own,
 * each side reloading the other's index only when short, no notifications
 * at all (both spin).  Made before the processes fork; written by the
 * granter's vchan child, read by the mapper.  Empty between runs, so a run
 * may use either size. */
#define IR_MAX (1u << 20)
struct ideal_ring {
	_Alignas(64) _Atomic uint64_t prod;
	_Alignas(64) _Atomic uint64_t cons;
	_Alignas(64) char data[IR_MAX];
};
static struct ideal_ring *ir;
static uint32_t ir_bytes = IR_MAX;

static void ir_write(const char *buf, uint32_t chunk, uint64_t total)
{
	uint64_t p = atomic_load_explicit(&ir->prod, memory_order_relaxed), c = p;

	for (uint64_t sent = 0; sent < total; sent += chunk) {
		uint32_t at = (uint32_t)(p % ir_bytes), first;

		while (p + chunk - c > ir_bytes) {
			c = atomic_load_explicit(&ir->cons, memory_order_acquire);
			if (p + chunk - c > ir_bytes)
				__builtin_ia32_pause();
		}
		first = chunk < ir_bytes - at ? chunk : ir_bytes - at;
		memcpy(ir->data + at, buf, first);
		memcpy(ir->data, buf + first, chunk - first);
		p += chunk;
		atomic_store_explicit(&ir->prod, p, memory_order_release);
	}
}

/* Up to `len` bytes from the ideal ring into buf: how many. */
static uint32_t ir_read(char *buf, uint32_t len)
{
	static uint64_t p;
	uint64_t c = atomic_load_explicit(&ir->cons, memory_order_relaxed);
	uint32_t n, at = (uint32_t)(c % ir_bytes), first;

	while (p == c) {
		p = atomic_load_explicit(&ir->prod, memory_order_acquire);
		if (p == c)
			__builtin_ia32_pause();
	}
	n = p - c < len ? (uint32_t)(p - c) : len;
	first = n < ir_bytes - at ? n : ir_bytes - at;
	memcpy(buf, ir->data + at, first);
	memcpy(buf + first, ir->data, n - first);
	atomic_store_explicit(&ir->cons, c + n, memory_order_release);
	return n;
}

/* Echo c->total requests of c->chunk bytes: over the vchan (mode 3) or the
 * Unix socket (mode 4). */
static void vchan_echo(struct gnt_vchan *v, const struct vcmd *c, char *buf)
{
	for (uint64_t i = 0; i < c->total; i++) {
		if (c->mode == 3) {
			if (gnt_vchan_recv(v, buf, c->chunk) != (int)c->chunk ||
			    gnt_vchan_send(v, buf, c->chunk) != (int)c->chunk)
				die("vchan echo");
		} else {
			read_full(vc_unix[1], buf, c->chunk);
			write_full(vc_unix[1], buf, c->chunk);
		}
	}
}

static void vchan_sender(domid_t mapper)
{
	static char buf[65536];
	char path[64];
	struct gnt_vchan *v[2];
	struct vcmd c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (uint32_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), VC_PATH, (unsigned)gnt_domid(), i);
		/* we write the right ring; the left one is small */
		v[i] = gnt_vchan_server_init(mapper, path, 1024, vc_ring_bytes[i]);
		if (!v[i])
			die("vchan server");
		gnt_vchan_set_blocking(v[i], 1);
	}
	memset(buf, 'v', sizeof(buf));
	while (read(vc_cmd[0], &c, sizeof(c)) == (ssize_t)sizeof(c) && c.mode) {
		if (c.mode == 5) {
			ir_bytes = vc_ring_bytes[c.ring & 1];
			ir_write(buf, c.chunk, c.total);
			continue;
		}
		if (c.mode >= 3) {
			vchan_echo(v[c.ring & 1], &c, buf);
			continue;
		}
		for (uint64_t sent = 0; sent < c.total; sent += c.chunk) {
			if (c.mode == 1) {
				if (gnt_vchan_write(v[c.ring & 1], buf, c.chunk) != (int)c.chunk)
					die("vchan write");
			} else {
				write_full(vc_unix[1], buf, c.chunk);
			}
		}
	}
	gnt_vchan_close(v[0]);
	gnt_vchan_close(v[1]);
	_exit(0);
}

static uint32_t grant_page(domid_t to, void *page, uint32_t i)
{
	int ref;

	*(volatile uint8_t *)page = marker(i);
	ref = gnt_grant_foreign_access(to, gnt_virt_to_gfn(page), 0);
	if (ref < 0) {
		errno = -ref;
		die("grant_foreign_access");
	}
	return (uint32_t)ref;
}

static void grant_unit(domid_t to, uint32_t *refs, uint32_t n)
{
	char *p = gnt_alloc_pages(n);

	if (!p)
		die("gnt_alloc_pages(%u)", n);
	for (uint32_t i = 0; i < n; i++)
		refs[i] = grant_page(to, p + (size_t)i * PG, i);
}

static void granter(domid_t mapper, int refs_out, int done_in)
{
	struct refs *r = calloc(1, sizeof(*r));
	char c;
	int id = gnt_domid();

	CHECK(r);
	if (id < 0) {
		errno = -id;
		die("granter: gnt_domid");
	}
	r->domid = (uint32_t)id;
	/* Small units first: an exposure of a multi-page unit is found by
	 * scanning the granter's table from ref 0 (core expo_create), so the
	 * refs of the 16- and 1024-page units sit low, the 256 MiB unit last. */
	grant_unit(mapper, &r->one, 1);
	grant_unit(mapper, r->u16, 16);
	grant_unit(mapper, r->u1024, 1024);
	for (uint32_t i = 0; i < MAX_N; i++) {
		void *p = gnt_alloc_page();
		if (!p)
			die("gnt_alloc_page");
		/* marker(i) of a separate frame i: the mapper maps them in a row */
		r->sep[i] = grant_page(mapper, p, i);
	}
	grant_unit(mapper, r->big, BIG_PAGES);
	/* event channel echoes: our unbound ports, for the mapper to bind; one
	 * echoed in gnt_evtchn_wait by a plain child of ours (as the raw
	 * baseline's echo below), one by our poll loop */
	gnt_evtchn_handle *eh = gnt_evtchn_open();
	int port = eh ? gnt_evtchn_bind_unbound_port(eh, mapper) : -1;
	int wport = -1, wp[2];
	if (pipe(wp) < 0)
		die("pipe");
	if (fork() == 0) {
		gnt_evtchn_handle *ew = gnt_evtchn_open();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		wport = ew ? gnt_evtchn_bind_unbound_port(ew, mapper) : -1;
		write_full(wp[1], &wport, sizeof(wport));
		if (wport >= 0)
			echo_wait(ew);
		_exit(0);
	}
	read_full(wp[0], &wport, sizeof(wport));
	close(wp[0]);
	close(wp[1]);
	if (port < 0 || wport < 0)
		die("granter: event channel");
	r->evport = (uint32_t)wport;
	r->evport_poll = (uint32_t)port;
	/* the raw baseline's echo: a plain child on our CPU, blocking reads */
	if (fork() == 0) {
		uint64_t v;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		while (read(efd_ping, &v, 8) == 8)
			if (write(efd_pong, &v, 8) != 8)
				break;
		_exit(0);
	}
	if (fork() == 0) {
		uint64_t v;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			poll_in(efdp_ping);
			if (read(efdp_ping, &v, 8) != 8 || write(efdp_pong, &v, 8) != 8)
				break;
		}
		_exit(0);
	}
	/* the floor's echo: the same, through pipe bells and shared bits */
	if (fork() == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			fl_wait(&fl_box[0], fl_ping[0]);
			fl_notify(&fl_box[1], fl_pong[1]);
		}
	}
	if (fork() == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			flx_wait(&fl_box[2]);
			flx_notify(&fl_box[3]);
		}
	}
	if (fork() == 0)
		vchan_sender(mapper);
	write_full(refs_out, r, sizeof(*r));
	close(refs_out);
	/* echo events until the mapper is gone (EOF) */
	for (;;) {
		struct pollfd pf[2] = {{.fd = gnt_evtchn_fd(eh), .events = POLLIN},
				       {.fd = done_in, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents) {
			if (read(done_in, &c, 1) <= 0)
				break;
		}
		for (int p; (p = gnt_evtchn_pending(eh)) >= 0;) {
			gnt_evtchn_unmask(eh, (evtchn_port_t)p);
			gnt_evtchn_notify(eh, (evtchn_port_t)p);
		}
	}
	_exit(0);
}

/* ---- mapper (domain B): the measurements ---------------------------------- */

enum {
	R_HC, R_MAP1, R_MAP16, R_MAP16U, R_MAP1024, R_MAP1024U, R_BIG, R_BIG_PP,
	R_HC_SAME, R_MAP1_SAME, R_EV, R_EV_FLOOR, R_EV_FLOOR_FX, R_EV_VS_FLOOR, R_EV_POLL, R_VC64K, R_VC64B, R_VC4K, R_VC64K_64K,
	R_VC64B_64K, R_VC4K_64K, R_VCRTT, R_CEIL4K, R_CEIL64K1M, R_CEIL64K_UNIX, R_XV64K, R_XV64B, R_XV4K, R_XVR64K, R_XVR64B, R_XVR4K, R_CEIL_XV4K,
	R_MEMCPY, R_PIPE,
	R_DIR_1G, R_DIR_PP, /* + SHARE_SIZES */
	R_CMP = R_DIR_PP + 6, /* + approach * SHARE_SIZES * 3 + size * 3 + {ms, hc, msgs} */
	R_COUNT = R_CMP + 3 * 6 * 3
};

struct result {
	char name[40], unit[12], bname[40];
	double value, bvalue, target;
	uint32_t rounds;
};

struct ctx {
	int s;                 /* raw socket */
	int pipe_out, pipe_in; /* pipe ping-pong */
	struct refs *refs;
	domid_t granter;
	uint8_t *buf, *rbuf;   /* raw request / reply buffers */
};

static struct result results[R_COUNT];

static void set_result(int i, const char *name, const char *unit, const char *bname,
		       double v, double bv, double target, int rounds)
{
	struct result *r = &results[i];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	snprintf(r->bname, sizeof(r->bname), "%s", bname);
	r->value = v;
	r->bvalue = bv;
	r->target = target;
	r->rounds = (uint32_t)rounds;
}

typedef double (*cycle_fn)(struct ctx *, void *arg, bool verify);

/* Run `rounds` rounds of (warm + iters) cycles of a and b, alternating which
 * goes first; per round the median of each, result the median of those. */
static void paired(struct ctx *c, cycle_fn fa, void *aa, cycle_fn fb, void *ab, int rounds,
		   int warm, int iters, double *ma, double *mb)
{
	double *va = calloc((size_t)rounds, sizeof(double));
	double *vb = calloc((size_t)rounds, sizeof(double));
	double *lat = calloc((size_t)iters, sizeof(double));

	CHECK(va && vb && lat);
	for (int r = 0; r < rounds; r++) {
		for (int side = 0; side < 2; side++) {
			bool is_a = (side == 0) == (r % 2 == 0);
			cycle_fn f = is_a ? fa : fb;
			void *arg = is_a ? aa : ab;
			for (int i = 0; i < warm; i++)
				f(c, arg, r == 0 && i == 0);
			for (int i = 0; i < iters; i++)
				lat[i] = f(c, arg, false);
			(is_a ? va : vb)[r] = median(lat, iters);
		}
	}
	*ma = median(va, rounds);
	*mb = median(vb, rounds);
	free(va);
	free(vb);
	free(lat);
}

/* -- hypercall round trip -- */

static double gnt_hc_cycle(struct ctx *c, void *arg, bool verify)
{
	struct gnttab_query_size q = {.dom = DOMID_SELF};
	uint64_t t0 = now_ns();
	long rc = gnt_grant_table_op(GNTTABOP_query_size, &q, 1);
	uint64_t t1 = now_ns();

	(void)c, (void)arg;
	if (rc != 0 || q.status != GNTST_okay)
		die("query_size: rc %ld status %d", rc, q.status);
	if (verify && (q.nr_frames == 0 || q.max_nr_frames < q.nr_frames))
		die("query_size: %u/%u frames", q.nr_frames, q.max_nr_frames);
	return (double)(t1 - t0) / 1e3;
}

static double raw_ping_cycle(struct ctx *c, void *arg, bool verify)
{
	struct rhdr *h = (struct rhdr *)(void *)c->buf;
	uint64_t t0, t1;
	size_t got = 0;

	(void)arg;
	*h = (struct rhdr){.magic = 1, .op = RAW_PING, .count = 1, .len = QUERY_SZ};
	t0 = now_ns();
	write_full(c->s, c->buf, HDR + QUERY_SZ);
	while (got < HDR + QUERY_SZ) {
		ssize_t r = read(c->s, c->rbuf + got, HDR + QUERY_SZ - got);
		if (r <= 0)
			die("raw ping read");
		got += (size_t)r;
	}
	t1 = now_ns();
	if (verify && ((struct rhdr *)(void *)c->rbuf)->op != RAW_PING)
		die("raw ping: bad reply");
	return (double)(t1 - t0) / 1e3;
}

/* -- map + touch + unmap of n frames -- */

struct gmap {
	uint32_t n;
	const uint32_t *refs;
	char *va;
	struct gnttab_map_grant_ref *ops;
	struct gnttab_unmap_grant_ref *uops;
	bool no_unmap; /* the 256 MiB case: unmap outside the timed part */
};

static void gmap_init(struct gmap *g, uint32_t n, const uint32_t *refs)
{
	memset(g, 0, sizeof(*g));
	g->n = n;
	g->refs = refs;
	g->va = gnt_alloc_ballooned_pages(n);
	g->ops = calloc(n, sizeof(*g->ops));
	g->uops = calloc(n, sizeof(*g->uops));
	CHECK(g->va && g->ops && g->uops);
}

static double gnt_map_cycle(struct ctx *c, void *arg, bool verify)
{
	struct gmap *g = arg;
	uint64_t t0, t1;
	int rc;

	for (uint32_t i = 0; i < g->n; i++)
		gnt_set_map_op(&g->ops[i], g->va + (size_t)i * PG, GNTMAP_host_map, g->refs[i],
			       c->granter);
	t0 = now_ns();
	rc = gnt_map_refs(g->ops, g->n);
	if (rc != 0) {
		errno = -rc;
		die("gnt_map_refs(%u)", g->n);
	}
	for (uint32_t i = 0; i < g->n; i++)
		if (g->ops[i].status != GNTST_okay)
			die("map op %u of %u: status %d", i, g->n, g->ops[i].status);
	touch(g->va, g->n, verify);
	t1 = now_ns(); /* the 256 MiB case: map + touch only */
	for (uint32_t i = 0; i < g->n; i++)
		gnt_set_unmap_op(&g->uops[i], g->va + (size_t)i * PG, GNTMAP_host_map,
				 g->ops[i].handle);
	rc = gnt_unmap_refs(g->uops, g->n);
	if (!g->no_unmap)
		t1 = now_ns();
	if (rc != 0) {
		errno = -rc;
		die("gnt_unmap_refs(%u)", g->n);
	}
	for (uint32_t i = 0; i < g->n; i++)
		if (g->uops[i].status != GNTST_okay)
			die("unmap op %u of %u: status %d", i, g->n, g->uops[i].status);
	return (double)(t1 - t0) / 1e3;
}

struct rmap {
	uint32_t n;
	bool unit;      /* one n-page memfd (one fd) instead of n 1-page memfds */
	char *slot;     /* reserved range */
};

static void rmap_init(struct rmap *r, uint32_t n, bool unit)
{
	r->n = n;
	r->unit = unit;
	r->slot = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	CHECK(r->slot != MAP_FAILED);
}

static double raw_map_cycle(struct ctx *c, void *arg, bool verify)
{
	struct rmap *r = arg;
	static int fds[MAX_N];
	struct rhdr *h = (struct rhdr *)(void *)c->buf;
	uint32_t n = r->n, nfds, want = r->unit ? 1 : n;
	size_t rlen = HDR + n * (MAP_OP_SZ + MAP_LOC_SZ);
	uint64_t t0, t1;

	*h = (struct rhdr){.magic = 1, .op = r->unit ? RAW_MAP_UNIT : RAW_MAP_SEP, .count = n,
			   .len = n * (uint32_t)MAP_OP_SZ};
	t0 = now_ns();
	/* map request, reply with the descriptors */
	write_full(c->s, c->buf, HDR + h->len);
	recv_with_fds(c->s, c->rbuf, rlen, fds, &nfds, MAX_N);
	if (nfds != want)
		die("raw map: %u fds, expected %u", nfds, want);
	if (r->unit) {
		void *p = mmap(r->slot, n * PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED | (n >= POPULATE_MIN ? MAP_POPULATE : 0),
			       fds[0], 0);
		CHECK(p == r->slot);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			void *p = mmap(r->slot + (size_t)i * PG, PG, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_FIXED, fds[i], 0);
			CHECK(p == r->slot + (size_t)i * PG);
		}
	}
	for (uint32_t i = 0; i < nfds; i++)
		close(fds[i]);
	touch(r->slot, n, verify && r->unit);
	if (verify && !r->unit)
		for (uint32_t i = 0; i < n; i++)
			CHECK(*(volatile uint8_t *)(r->slot + (size_t)i * PG) == marker(0));
	/* unmap: give the range back to the reservation, tell the server, ack */
	CHECK(mmap(r->slot, n * PG, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == r->slot);
	*h = (struct rhdr){.magic = 1, .op = RAW_UNMAP, .count = n,
			   .len = n * (uint32_t)UNMAP_OP_SZ};
	for (uint32_t i = 0; i < n; i++) {
		struct gnttab_unmap_grant_ref *u = (void *)(c->buf + HDR + i * UNMAP_OP_SZ);
		u->host_addr = (uint64_t)(uintptr_t)(r->slot + (size_t)i * PG);
		u->dev_bus_addr = 0;
		u->handle = i;
		u->status = 0;
	}
	write_full(c->s, c->buf, HDR + h->len);
	read_full(c->s, c->rbuf, HDR + n * UNMAP_OP_SZ);
	t1 = now_ns();
	return (double)(t1 - t0) / 1e3;
}

/* -- 256 MiB: map + touch -- */

struct rbig {
	int fd;
	char *slot;
};

static double raw_big_cycle(struct ctx *c, void *arg, bool verify)
{
	struct rbig *b = arg;
	uint64_t t0, t1;
	void *p;

	(void)c;
	t0 = now_ns();
	p = mmap(b->slot, BIG_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, b->fd, 0);
	CHECK(p == b->slot);
	touch(b->slot, BIG_PAGES, verify);
	t1 = now_ns();
	CHECK(mmap(b->slot, BIG_PAGES * PG, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == b->slot);
	return (double)(t1 - t0) / 1e3;
}

/* -- pipe ping-pong (informational) -- */

static double pipe_rtt(struct ctx *c, int rounds, int iters)
{
	struct rhdr h = {.magic = 1, .op = RAW_PIPE, .count = (uint32_t)iters};
	double *v = calloc((size_t)rounds, sizeof(double));
	double *lat = calloc((size_t)iters, sizeof(double));
	double m;
	char ch = 'p';

	CHECK(v && lat);
	for (int r = -1; r < rounds; r++) {
		write_full(c->s, &h, sizeof(h));
		for (int i = 0; i < iters; i++) {
			uint64_t t0 = now_ns();
			write_full(c->pipe_out, &ch, 1);
			read_full(c->pipe_in, &ch, 1);
			lat[i] = (double)(now_ns() - t0) / 1e3;
		}
		read_full(c->s, c->rbuf, HDR);
		if (r >= 0)
			v[r] = median(lat, iters);
	}
	m = median(v, rounds);
	free(v);
	free(lat);
	return m;
}

/* -- event notify round trip: gnt event channel vs raw eventfd -- */

/* As libxenvchan waits (xenevtchn_pending on a blocking fd), or as a
 * libxenevtchn user with an event loop does: poll the fd, then pending;
 * then unmask. */
static void wait_port(gnt_evtchn_handle *h, int want_port, bool poll_shape)
{
	for (;;) {
		struct pollfd pf = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
		int p;
		if (poll_shape) {
			poll(&pf, 1, -1);
			p = gnt_evtchn_pending(h);
		} else {
			p = gnt_evtchn_wait(h);
		}
		if (p == want_port) {
			gnt_evtchn_unmask(h, (evtchn_port_t)p);
			return;
		}
		if (p >= 0)
			die("event on port %d, expected %d", p, want_port);
	}
}

static void evtchn_rtt(struct ctx *c, bool poll_shape, int rounds, int iters, double *g,
		       double *r, double f[2])
{
	double *v[4], *lat = calloc((size_t)iters, sizeof(double));
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = poll_shape ? c->refs->evport_poll : c->refs->evport;
	int port = h ? gnt_evtchn_bind_interdomain(h, c->granter, (evtchn_port_t)rport) : -1;

	for (int k = 0; k < 4; k++)
		CHECK((v[k] = calloc((size_t)rounds, sizeof(double))));
	CHECK(lat);
	if (port < 0)
		die("mapper: bind to the granter's port: %d", port);
	wait_port(h, port, poll_shape); /* a fresh binding is pending */
	for (int k = -1; k < rounds; k++) {
		/* 0 gnt, 1 eventfd, 2 floor, 3 futex floor; who goes first
		 * rotates by round */
		for (int pass = 0; pass < 4; pass++) {
			int who = (pass + (k < 0 ? 0 : k)) % 4;
			for (int i = 0; i < iters; i++) {
				uint64_t t0 = now_ns(), val = 1;
				if (who == 0) {
					gnt_evtchn_notify(h, (evtchn_port_t)port);
					wait_port(h, port, poll_shape);
				} else if (who == 1 && poll_shape) {
					write_full(efdp_ping, &val, 8);
					poll_in(efdp_pong);
					read_full(efdp_pong, &val, 8);
				} else if (who == 1) {
					write_full(efd_ping, &val, 8);
					read_full(efd_pong, &val, 8);
				} else if (who == 2) {
					fl_notify(&fl_box[0], fl_ping[1]);
					fl_wait(&fl_box[1], fl_pong[0]);
				} else {
					flx_notify(&fl_box[2]);
					flx_wait(&fl_box[3]);
				}
				lat[i] = (double)(now_ns() - t0) / 1e3;
			}
			if (k >= 0)
				v[who][k] = median(lat, iters);
		}
	}
	*g = median(v[0], rounds);
	*r = median(v[1], rounds);
	f[0] = median(v[2], rounds);
	f[1] = median(v[3], rounds);
	gnt_evtchn_close(h);
	for (int k = 0; k < 4; k++)
		free(v[k]);
	free(lat);
}

/* Seconds to receive `total` bytes sent in `chunk`-byte writes. */
static double vchan_run(struct gnt_vchan *v, uint32_t ring, uint32_t mode, uint32_t chunk,
			uint64_t total)
{
	static char buf[65536];
	struct vcmd c = {.mode = mode, .chunk = chunk, .total = total, .ring = ring};
	uint64_t t0 = now_ns(), got = 0;

	ir_bytes = vc_ring_bytes[ring & 1];
	write_full(vc_cmd[1], &c, sizeof(c));
	while (got < total) {
		ssize_t r = mode == 1   ? gnt_vchan_read(v, buf, sizeof(buf))
			    : mode == 5 ? (ssize_t)ir_read(buf, sizeof(buf))
					: read(vc_unix[0], buf, sizeof(buf));
		if (r <= 0)
			die("vchan bench: read %zd", r);
		got += (uint64_t)r;
	}
	return (double)(now_ns() - t0) / 1e9;
}

/* Microseconds per 64-byte request and reply, `iters` of them. */
static double vchan_rtt_run(struct gnt_vchan *v, uint32_t mode, uint64_t iters)
{
	char buf[64] = "ping";
	struct vcmd c = {.mode = mode, .chunk = sizeof(buf), .total = iters, .ring = 1};
	uint64_t t0;

	write_full(vc_cmd[1], &c, sizeof(c));
	t0 = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		if (mode == 3) {
			if (gnt_vchan_send(v, buf, sizeof(buf)) != (int)sizeof(buf) ||
			    gnt_vchan_recv(v, buf, sizeof(buf)) != (int)sizeof(buf))
				die("vchan rtt");
		} else {
			write_full(vc_unix[0], buf, sizeof(buf));
			read_full(vc_unix[0], buf, sizeof(buf));
		}
	}
	return (double)(now_ns() - t0) / 1e3 / (double)iters;
}

static void vchan_rtt(struct gnt_vchan *v, int rounds, uint64_t iters)
{
	double g[16], r[16];

	vchan_rtt_run(v, 3, iters / 8); /* warm */
	vchan_rtt_run(v, 4, iters / 8);
	for (int k = 0; k < rounds; k++) {
		bool first = k % 2 == 0;
		double a = vchan_rtt_run(v, first ? 3 : 4, iters);
		double b = vchan_rtt_run(v, first ? 4 : 3, iters);
		g[k] = first ? a : b;
		r[k] = first ? b : a;
	}
	set_result(R_VCRTT, "vchan_rtt_64b", "us", "unix_rtt_64b", median(g, rounds),
		   median(r, rounds), 0, rounds);
}

/* The ideal ring of the vchan's size (vc_ring_bytes[ring]) against the
 * vchan v, `chunk`-byte writes, alternately. */
static void ring_ceiling(struct gnt_vchan *v, uint32_t ring, uint32_t chunk, int idx,
			 const char *name, const char *vname, int rounds, bool quick)
{
	uint64_t total = (uint64_t)(quick ? 64 : 256) << 20;
	double vi[16], vg[16];

	CHECK(rounds <= 16);
	vchan_run(v, ring, 5, chunk, total / 8); /* warm */
	for (int r = 0; r < rounds; r++) {
		bool first = r % 2 == 0;
		double a = vchan_run(v, ring, first ? 5 : 1, chunk, total);
		double b = vchan_run(v, ring, first ? 1 : 5, chunk, total);
		vi[r] = total / 1e9 / (first ? a : b);
		vg[r] = total / 1e9 / (first ? b : a);
	}
	set_result(idx, name, "GB/s", vname, median(vi, rounds), median(vg, rounds), 0, rounds);
}

static void vchan_bench(struct ctx *c, int rounds, bool quick)
{
	struct gnt_vchan *v[2] = {NULL, NULL};
	char path[64];
	static const struct {
		int idx;
		uint32_t ring; /* vc_ring_bytes index */
		uint32_t chunk;
		const char *name, *bname, *unit;
		double target;
	} cases[] = {
		{R_VC64K, 0, 65536, "vchan_64k_1m", "unix_stream_64k", "GB/s", -2.5},
		{R_VC64B, 0, 64, "vchan_64b_1m", "unix_stream_64b", "Mmsg/s", -8},
		{R_VC4K, 0, 4096, "vchan_4k_1m", "unix_stream_4k", "GB/s", 0},
		{R_VC64K_64K, 1, 65536, "vchan_64k_64k", "unix_stream_64k", "GB/s", 0},
		{R_VC64B_64K, 1, 64, "vchan_64b_64k", "unix_stream_64b", "Mmsg/s", 0},
		{R_VC4K_64K, 1, 4096, "vchan_4k_64k", "unix_stream_4k", "GB/s", 0},
	};

	for (uint32_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), VC_PATH, (unsigned)c->granter, i);
		for (int t = 0; t < 500 && !v[i]; t++) { /* the server publishes its keys */
			v[i] = gnt_vchan_client_init(c->granter, path);
			if (!v[i])
				usleep(10000);
		}
		if (!v[i])
			die("vchan client: %s", strerror(errno));
		gnt_vchan_set_blocking(v[i], 1);
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint32_t ring = cases[k].ring, chunk = cases[k].chunk;
		uint64_t total = chunk == 64 ? (quick ? 4u : 12u) << 20
					     : (uint64_t)(quick ? 64 : 256) << 20;
		double *vg, *vr;
		double per = chunk == 64 ? total / 64.0 / 1e6 : total / 1e9;

		if (!want(cases[k].name))
			continue;
		vg = calloc((size_t)rounds, sizeof(double));
		vr = calloc((size_t)rounds, sizeof(double));
		CHECK(vg && vr);
		vchan_run(v[ring], ring, 1, chunk, total / 8); /* warm */
		vchan_run(v[ring], ring, 2, chunk, total / 8);
		for (int r = 0; r < rounds; r++) {
			bool first = r % 2 == 0;
			double a = vchan_run(v[ring], ring, first ? 1 : 2, chunk, total);
			double b = vchan_run(v[ring], ring, first ? 2 : 1, chunk, total);
			vg[r] = per / (first ? a : b);
			vr[r] = per / (first ? b : a);
		}
		set_result(cases[k].idx, cases[k].name, cases[k].unit, cases[k].bname,
			   median(vg, rounds), median(vr, rounds), cases[k].target, rounds);
		free(vg);
		free(vr);
	}
	if (want("ring_ceiling_4k_64k"))
		ring_ceiling(v[1], 1, 4096, R_CEIL4K, "ring_ceiling_4k_64k", "vchan_4k_64k", rounds,
			     quick);
	if (want("ring_ceiling_64k_1m")) {
		ring_ceiling(v[0], 0, 65536, R_CEIL64K1M, "ring_ceiling_64k_1m", "vchan_64k_1m",
			     rounds, quick);
		/* below 2.5: no 1 MiB ring could meet vchan_64k_1m's target here */
		if (results[R_VC64K].name[0])
			set_result(R_CEIL64K_UNIX, "ring_ceiling_vs_unix_64k", "GB/s",
				   "unix_stream_64k", results[R_CEIL64K1M].value,
				   results[R_VC64K].bvalue, 0, rounds);
	}
	if (want("vchan_rtt_64b"))
		vchan_rtt(v[1], rounds, quick ? 3000 : 10000);
	gnt_vchan_close(v[0]);
	gnt_vchan_close(v[1]);
}

static void mapper(int s, int pipe_out, int pipe_in, int refs_in, int results_out, bool quick,
		   int cpu_self, int cpu_gntd)
{
	struct ctx c = {.s = s, .pipe_out = pipe_out, .pipe_in = pipe_in};
	int q = quick ? 3 : 1; /* --quick divides the iterations */
	double g, r;

	c.refs = malloc(sizeof(*c.refs));
	c.buf = malloc(HDR + BIG_PAGES * 64);
	c.rbuf = malloc(HDR + BIG_PAGES * 64);
	CHECK(c.refs && c.buf && c.rbuf);
	memset(c.buf, 0, HDR + BIG_PAGES * 64);
	memset(c.rbuf, 0, HDR + BIG_PAGES * 64);
	if (gnt_open() < 0)
		die("mapper: gnt_open");
	read_full(refs_in, c.refs, sizeof(*c.refs));
	close(refs_in);
	c.granter = (domid_t)c.refs->domid;

	/* hypercall round trip vs a raw socket round trip, same sizes */
	if (want("hypercall_rtt")) {
		paired(&c, gnt_hc_cycle, NULL, raw_ping_cycle, NULL, 15, 300, scaled(4000 / q),
		       &g, &r);
		set_result(R_HC, "hypercall_rtt", "us", "unix_socket_rtt", g, r, 1.1, 15);
	}

	/* map + touch + unmap */
	static const struct {
		int idx;
		uint32_t n;
		bool unit;
		int rounds, warm, iters;
		const char *name, *bname;
	} cases[] = {
		{R_MAP1, 1, false, 15, 100, 1500, "map_1", "raw_fdpass_mmap_1"},
		{R_MAP16, 16, false, 15, 30, 500, "map_16", "raw_fdpass_mmap_16"},
		{R_MAP16U, 16, true, 15, 50, 1000, "map_16_unit", "raw_fdpass_mmap_16_unit"},
		{R_MAP1024, 1024, false, 11, 2, 25, "map_1024", "raw_fdpass_mmap_1024"},
		{R_MAP1024U, 1024, true, 11, 10, 150, "map_1024_unit", "raw_fdpass_mmap_1024_unit"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct gmap gm;
		struct rmap rm;
		const uint32_t *refs = cases[k].n == 1 ? &c.refs->one :
				       !cases[k].unit ? c.refs->sep :
				       cases[k].n == 16 ? c.refs->u16 : c.refs->u1024;
		if (!want(cases[k].name))
			continue;
		gmap_init(&gm, cases[k].n, refs);
		rmap_init(&rm, cases[k].n, cases[k].unit);
		paired(&c, gnt_map_cycle, &gm, raw_map_cycle, &rm, cases[k].rounds,
		       cases[k].warm, scaled(cases[k].iters / q), &g, &r);
		set_result(cases[k].idx, cases[k].name, "us", cases[k].bname, g, r, 1.2,
			   cases[k].rounds);
		gnt_free_ballooned_pages(gm.va, gm.n);
		munmap(rm.slot, rm.n * PG);
		free(gm.ops);
		free(gm.uops);
	}

	/* 256 MiB: one gnt_map_refs call of 65536 ops vs mmap MAP_POPULATE */
	if (want("map_256MiB")) {
		struct gmap gm;
		struct rbig rb;
		struct rhdr h = {.magic = 1, .op = RAW_GET_BIG};
		uint32_t nfds;
		int rounds = quick ? 3 : 7;

		write_full(s, &h, sizeof(h));
		recv_with_fds(s, c.rbuf, HDR, &rb.fd, &nfds, 1);
		CHECK(nfds == 1);
		rb.slot = mmap(NULL, BIG_PAGES * PG, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		CHECK(rb.slot != MAP_FAILED);
		gmap_init(&gm, BIG_PAGES, c.refs->big);
		gm.no_unmap = true;
		paired(&c, gnt_map_cycle, &gm, raw_big_cycle, &rb, rounds, 1, scaled(4), &g, &r);
		set_result(R_BIG, "map_256MiB", "us", "raw_populate_256MiB", g, r, 2.0, rounds);
		set_result(R_BIG_PP, "map_256MiB_per_page", "us", "raw_populate_256MiB_per_page",
			   g / BIG_PAGES, r / BIG_PAGES, 2.0, rounds);
		gnt_free_ballooned_pages(gm.va, gm.n);
		munmap(rb.slot, BIG_PAGES * PG);
		close(rb.fd);
	}

	/* event channel notify round trip vs a raw eventfd ping-pong */
	if (want("evtchn_rtt")) {
		double f[2];
		evtchn_rtt(&c, false, 9, scaled(3000 / q), &g, &r, f);
		set_result(R_EV, "evtchn_rtt", "us", "eventfd_rtt", g, r, 1.1, 9);
		set_result(R_EV_FLOOR, "evtchn_floor_rtt", "us", "eventfd_rtt", f[0], r, 0, 9);
		set_result(R_EV_FLOOR_FX, "evtchn_floor_futex_rtt", "us", "eventfd_rtt", f[1], r,
			   0, 9);
		set_result(R_EV_VS_FLOOR, "evtchn_rtt_vs_floor", "us", "evtchn_floor_rtt", g, f[0],
			   0, 9);
	}
	if (want("evtchn_rtt_poll")) {
		double f[2];
		evtchn_rtt(&c, true, 9, scaled(3000 / q), &g, &r, f);
		set_result(R_EV_POLL, "evtchn_rtt_poll", "us", "eventfd_poll_rtt", g, r, 0, 9);
	}

	/* vchan throughput vs a Unix stream socket */
	if (want("vchan_64k_1m") || want("vchan_64b_1m") || want("vchan_4k_1m") ||
	    want("vchan_64k_64k") || want("vchan_64b_64k") || want("vchan_4k_64k") ||
	    want("vchan_rtt_64b") || want("ring_ceiling_4k_64k") || want("ring_ceiling_64k_1m"))
		vchan_bench(&c, 5, quick);

	/* pipe ping-pong, informational */
	if (want("pipe_rtt")) {
		r = pipe_rtt(&c, 9, scaled(5000 / q));
		set_result(R_PIPE, "pipe_rtt", "us", "pipe_rtt", r, r, 0, 9);
	}

	/* The same two figures with the mapper moved onto gntd's (and the raw
	 * server's) CPU: every wake-up is then a same-CPU one. */
	if (cpu_gntd >= 0 && cpu_gntd != cpu_self) {
		pin_cpu(cpu_gntd);
		if (want("hypercall_rtt_same_cpu")) {
			paired(&c, gnt_hc_cycle, NULL, raw_ping_cycle, NULL, 9, 300,
			       scaled(4000 / q), &g, &r);
			set_result(R_HC_SAME, "hypercall_rtt_same_cpu", "us",
				   "unix_socket_rtt_same_cpu", g, r, 1.1, 9);
		}
		if (want("map_1_same_cpu")) {
			struct gmap gm;
			struct rmap rm;
			gmap_init(&gm, 1, &c.refs->one);
			rmap_init(&rm, 1, false);
			paired(&c, gnt_map_cycle, &gm, raw_map_cycle, &rm, 9, 100,
			       scaled(1500 / q), &g, &r);
			set_result(R_MAP1_SAME, "map_1_same_cpu", "us", "raw_fdpass_mmap_1_same_cpu",
				   g, r, 1.2, 9);
		}
		pin_cpu(cpu_self);
	}

	write_full(results_out, results, sizeof(results));
	close(results_out);
	_exit(0);
}

/* ---- memcpy (informational) ----------------------------------------------- */

/* ---- Debian's libxenvchan on the drop-ins (bench/xenvchan-peer.c) ---------- */

/* xenvchan-peer beside us, and the drop-ins' directory */
static bool xv_paths(char *peer, size_t n, char *libdir, size_t m)
{
	char exe[PATH_MAX - 32];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (k <= 0)
		return false;
	exe[k] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = 0;
	snprintf(peer, n, "%s/xenvchan-peer", exe);
	snprintf(libdir, m, "%s/../compat", exe);
	return access(peer, X_OK) == 0;
}

/* One server/client pair in two new domains: `rounds` timed transfers of
 * `total` bytes in `chunk`-byte writes (after one untimed); the median of
 * per / seconds. */
static double xv_run(const char *peer, uint32_t chunk, uint64_t total, int rounds, double per)
{
	char s_dom[16], c_dom[16], path[64], sz[16], tot[24], nr[16], fdn[16], name[32];
	double *v = calloc((size_t)rounds + 1, sizeof(double)), res;
	int p[2], srv, cli, st;
	pid_t ps, pc;

	snprintf(name, sizeof(name), "bench-xv-srv-%u", chunk);
	srv = gnt_domain_create(name, NULL);
	snprintf(name, sizeof(name), "bench-xv-cli-%u", chunk);
	cli = gnt_domain_create(name, NULL);
	if (!v || srv <= 0 || cli <= 0 || pipe2(p, O_CLOEXEC) < 0)
		die("xenvchan bench: domains");
	fcntl(p[1], F_SETFD, 0); /* the client's result descriptor */
	snprintf(s_dom, sizeof(s_dom), "%d", srv);
	snprintf(c_dom, sizeof(c_dom), "%d", cli);
	snprintf(path, sizeof(path), "/local/domain/%d/data/xvbench", srv);
	snprintf(sz, sizeof(sz), "%u", chunk);
	snprintf(tot, sizeof(tot), "%llu", (unsigned long long)total);
	snprintf(nr, sizeof(nr), "%d", rounds + 1);
	snprintf(fdn, sizeof(fdn), "%d", p[1]);
	{
		char *as[] = {(char *)peer, "server", c_dom, path, "65536", sz, tot, nr, NULL};
		char *ac[] = {(char *)peer, "client", s_dom, path, tot, nr, fdn, NULL};
		fflush(NULL);
		ps = gnt_domain_spawn((uint32_t)srv, as);
		pc = gnt_domain_spawn((uint32_t)cli, ac);
	}
	close(p[1]);
	if (ps < 0 || pc < 0)
		die("xenvchan bench: spawn");
	for (int r = 0; r <= rounds; r++) {
		double dt;
		read_full(p[0], &dt, sizeof(dt));
		v[r] = per / dt;
	}
	close(p[0]);
	if (waitpid(pc, &st, 0) != pc || !WIFEXITED(st) || WEXITSTATUS(st) ||
	    waitpid(ps, &st, 0) != ps || !WIFEXITED(st) || WEXITSTATUS(st))
		die("xenvchan bench: a peer failed (status 0x%x)", st);
	res = median(v + 1, rounds); /* the first round warms up */
	free(v);
	return res;
}

static void xenvchan_bench(bool quick)
{
	static const struct {
		int idx, ratio_idx, gnt_idx;
		uint32_t chunk;
		const char *name, *rname, *unit;
	} cases[] = {
		{R_XV64K, R_XVR64K, R_VC64K_64K, 65536, "xenvchan_64k", "vchan_vs_xenvchan_64k", "GB/s"},
		{R_XV64B, R_XVR64B, R_VC64B_64K, 64, "xenvchan_64b", "vchan_vs_xenvchan_64b", "Mmsg/s"},
		{R_XV4K, R_XVR4K, R_VC4K_64K, 4096, "xenvchan_4k", "vchan_vs_xenvchan_4k", "GB/s"},
	};
	char peer[PATH_MAX], libdir[PATH_MAX];
	int rounds = quick ? 3 : 5;

	if (!xv_paths(peer, sizeof(peer), libdir, sizeof(libdir))) {
		fprintf(stderr, "gnt-bench: no xenvchan-peer beside gnt-bench: xenvchan_* skipped\n");
		return;
	}
	setenv("LD_LIBRARY_PATH", libdir, 1);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint32_t chunk = cases[k].chunk;
		uint64_t total = chunk == 64 ? (quick ? 4u : 12u) << 20
					     : (uint64_t)(quick ? 64 : 256) << 20;
		double per = chunk == 64 ? total / 64.0 / 1e6 : total / 1e9, xv;
		const struct result *g = &results[cases[k].gnt_idx];
		char bname[40];

		if (!want(cases[k].name))
			continue;
		xv = xv_run(peer, chunk, total, rounds, per);
		/* the Unix socket of this run, if its vchan case ran */
		snprintf(bname, sizeof(bname), "unix_stream_%s", cases[k].name + 9);
		set_result(cases[k].idx, cases[k].name, cases[k].unit, bname, xv,
			   g->name[0] ? g->bvalue : 0, 0, rounds);
		if (g->name[0])
			set_result(cases[k].ratio_idx, cases[k].rname, cases[k].unit,
				   cases[k].name, g->value, xv, -2, rounds);
		/* below 2: no 64 KiB ring could be twice libxenvchan in this run */
		if (chunk == 4096 && results[R_CEIL4K].name[0])
			set_result(R_CEIL_XV4K, "ring_ceiling_vs_xenvchan_4k", "GB/s", "xenvchan_4k",
				   results[R_CEIL4K].value, xv, 0, rounds);
	}
	unsetenv("LD_LIBRARY_PATH");
}

static double bench_memcpy(int reps)
{
	size_t sz = 64ul << 20;
	char *a = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double v[16], m;

	CHECK(a != MAP_FAILED && b != MAP_FAILED && reps <= 16);
	memset(a, 1, sz);
	memset(b, 2, sz);
	memcpy(b, a, sz);
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();
		for (int k = 0; k < 8; k++) {
			memcpy(b, a, sz);
			__asm__ volatile("" : : "r"(b) : "memory");
		}
		v[r] = 8.0 * (double)sz / (double)(now_ns() - t0); /* bytes/ns = GB/s */
	}
	m = median(v, reps);
	munmap(a, sz);
	munmap(b, sz);
	return m;
}

/* ---- the parent: set-up, clean-up, output --------------------------------- */

static char rundir[64];
static pid_t gntd_pid = -1, kids[3] = {-1, -1, -1};
static bool gntd_up;

static void rm_rundir(void)
{
	char p[128];

	if (!rundir[0])
		return;
	snprintf(p, sizeof(p), "%s/gntd.sock", rundir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/gntd.pid", rundir);
	unlink(p);
	rmdir(rundir);
	rundir[0] = 0;
}

static void cleanup(void)
{
	if (getpid() != parent_pid)
		return;
	for (int i = 0; i < 3; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = -1;
		}
	if (gntd_up) {
		gntd_up = false;
		if (gnt_hv_stop() < 0 && gntd_pid > 0)
			kill(gntd_pid, SIGKILL);
	}
	if (gntd_pid > 0) {
		int st;
		for (int i = 0; i < 2000 && waitpid(gntd_pid, &st, WNOHANG) == 0; i++)
			usleep(1000);
		if (waitpid(gntd_pid, &st, WNOHANG) == 0) {
			kill(gntd_pid, SIGKILL);
			waitpid(gntd_pid, &st, 0);
		}
		gntd_pid = -1;
	}
	rm_rundir();
}

static void on_signal(int sig)
{
	/* async-signal-safe part of cleanup: no gnt calls */
	for (int i = 0; i < 3; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	if (gntd_pid > 0)
		kill(gntd_pid, SIGKILL);
	if (rundir[0]) {
		char p[128];
		size_t l = strlen(rundir);
		memcpy(p, rundir, l);
		memcpy(p + l, "/gntd.sock", 11);
		unlink(p);
		memcpy(p + l, "/gntd.pid", 10);
		unlink(p);
		rmdir(rundir);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static pid_t read_gntd_pid(void)
{
	char p[128], b[32] = {0};
	int fd;

	snprintf(p, sizeof(p), "%s/gntd.pid", rundir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (read(fd, b, sizeof(b) - 1) <= 0)
		b[0] = 0;
	close(fd);
	return (pid_t)atoi(b);
}

static void pin_pid(pid_t pid, int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(pid, sizeof(s), &s) < 0)
		die("sched_setaffinity(gntd %d, cpu %d)", (int)pid, cpu);
}

/* fork a process of domain dom (tests/helpers.c th_spawn): the token goes to
 * $GNT_FD, the uid is dropped when we are root */
static pid_t spawn_in(uint32_t dom, int cpu, const int *close_fds, int nclose,
		      void (*fn)(void *), void *arg)
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(dom, &uid, &gid);
	pid_t pid;

	if (fd < 0) {
		errno = -fd;
		die("token for d%u", dom);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char num[16];
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(0);
		for (int i = 0; i < nclose; i++)
			close(close_fds[i]);
		pin_cpu(cpu);
		snprintf(num, sizeof(num), "%d", fd);
		setenv("GNT_FD", num, 1);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		     setresuid(uid, uid, uid) < 0))
			die("dropping to uid %u", uid);
		fn(arg);
		_exit(0);
	}
	close(fd);
	return pid;
}

/* ---- sharing N pages: a directory against MAP_POPULATE, and the comparison --

 * Two fresh domains: a donor grants an N-page buffer (one unit) through a
 * directory (gnt/dir.h) and sends the directory ref; the recipient maps it
 * read-only and reads one byte per page.  Timed: the donor's gnt_dir_grant
 * starts .. the recipient has touched every page (CLOCK_MONOTONIC across the
 * two processes); ending and unmapping are not.  The baseline, measured by
 * the recipient in the same rounds: mmap MAP_POPULATE of an N-page memfd
 * populated beforehand + the same touch. */

static const uint32_t share_ns[] = {1, 16, 256, 4096, 65536, 262144};
#define SHARE_SIZES (sizeof(share_ns) / sizeof(share_ns[0]))
#define SHARE_MAX 262144u

struct share_args {
	int link;      /* donor <-> recipient, SOCK_SEQPACKET */
	int res;       /* recipient -> parent: double[SHARE_SIZES][2] */
	domid_t peer;
	bool quick;
};

struct share_req {
	uint64_t t0;
	uint32_t n, ref;
};

static bool share_wanted(size_t k)
{
	char name[40];
	snprintf(name, sizeof(name), "dir_per_page_%u", share_ns[k]);
	return want(name) || (share_ns[k] == SHARE_MAX && want("dir_1GiB"));
}

/* Donor: for each request n, grant a fresh n-page unit and send its
 * directory; end it once the recipient is done with it.  n 0: stop. */
static void share_donor(void *p)
{
	struct share_args *a = p;
	struct share_req q;
	uint32_t have = 0;
	char *buf = NULL;

	while (read(a->link, &q, sizeof(q)) == sizeof(q) && q.n) {
		struct gnt_dir_grant g;
		if (q.n != have) { /* one unit of exactly n pages: the unit rule */
			if (buf)
				gnt_free_pages(buf, have);
			buf = gnt_alloc_pages(q.n);
			if (!buf)
				die("donor: %u pages", q.n);
			for (uint32_t i = 0; i < q.n; i++)
				buf[(size_t)i * PG] = (char)marker(i);
			have = q.n;
		}
		q.t0 = now_ns();
		if (gnt_dir_grant(&g, a->peer, buf, q.n, 1) < 0)
			die("donor: gnt_dir_grant %u", q.n);
		q.ref = g.dir_ref;
		write_full(a->link, &q, sizeof(q));
		if (read(a->link, &q, sizeof(q)) != sizeof(q))
			die("donor: no word from the recipient");
		gnt_dir_end(&g);
		for (int i = 0; i < 10000 && gnt_deferred_count(); i++) {
			gnt_deferred_poll();
			usleep(100);
		}
	}
	if (buf)
		gnt_free_pages(buf, have);
}

static double share_gnt_cycle(struct share_args *a, uint32_t n, bool verify)
{
	struct share_req q = {.n = n};
	struct gnt_dir_map m;
	double us;

	write_full(a->link, &q, sizeof(q));
	if (read(a->link, &q, sizeof(q)) != sizeof(q))
		die("recipient: no directory");
	if (gnt_dir_map(&m, a->peer, q.ref, n, 1, 0) < 0)
		die("recipient: gnt_dir_map %u", n);
	touch(m.addr, n, verify);
	us = (double)(now_ns() - q.t0) / 1e3;
	gnt_dir_unmap(&m, 0);
	write_full(a->link, &q, sizeof(q));
	return us;
}

static double share_raw_cycle(int fd, uint32_t n)
{
	uint64_t t0 = now_ns();
	char *p = mmap(NULL, (size_t)n * PG, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	double us;

	if (p == MAP_FAILED)
		die("raw: mmap %u pages", n);
	touch(p, n, false);
	us = (double)(now_ns() - t0) / 1e3;
	munmap(p, (size_t)n * PG);
	return us;
}

/* Recipient: per size, rounds of (gnt, raw) blocks alternating which goes
 * first, the median of each block, then the median over blocks. */
static void share_recipient(void *p)
{
	struct share_args *a = p;
	double out[SHARE_SIZES][2] = {{0}};
	int rounds = a->quick ? 3 : 7;
	struct share_req stop = {0};

	for (size_t k = 0; k < SHARE_SIZES; k++) {
		uint32_t n = share_ns[k];
		/* about 4096 pages' worth a block, at least one cycle */
		int iters = scaled(n >= 4096 ? 1 : (int)(4096 / n) / (a->quick ? 3 : 1));
		double va[16], vb[16], *lat;
		int fd;

		if (!share_wanted(k))
			continue;
		fd = populated_memfd(n);
		lat = calloc((size_t)iters, sizeof(double));
		if (!lat)
			die("calloc");
		for (int r = 0; r < rounds; r++)
			for (int side = 0; side < 2; side++) {
				bool gnt = (side == 0) == (r % 2 == 0);
				for (int i = 0; i < iters; i++)
					lat[i] = gnt ? share_gnt_cycle(a, n, r == 0 && i == 0)
						     : share_raw_cycle(fd, n);
				(gnt ? va : vb)[r] = median(lat, iters);
			}
		out[k][0] = median(va, rounds);
		out[k][1] = median(vb, rounds);
		free(lat);
		close(fd);
	}
	write_full(a->link, &stop, sizeof(stop));
	write_full(a->res, out, sizeof(out));
}

static void share_bench(bool quick, int cpu_donor, int cpu_recip)
{
	struct gnt_domain_config cfg = {.max_pages = SHARE_MAX + 1024, .max_grant_frames = 1040,
					.max_maptrack_frames = 1100};
	struct share_args da, ra;
	double out[SHARE_SIZES][2];
	int link[2], res[2], d, r;
	bool any = false;

	for (size_t k = 0; k < SHARE_SIZES; k++)
		any = any || share_wanted(k);
	if (!any)
		return;
	d = gnt_domain_create("bench-share-donor", &cfg);
	r = gnt_domain_create("bench-share-recip", &cfg);
	if (d <= 0 || r <= 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) < 0 ||
	    pipe2(res, O_CLOEXEC) < 0)
		die("sharing bench set-up");
	da = (struct share_args){.link = link[0], .res = -1, .peer = (domid_t)r, .quick = quick};
	ra = (struct share_args){.link = link[1], .res = res[1], .peer = (domid_t)d, .quick = quick};
	{
		int cd[] = {link[1], res[0], res[1]}, cr[] = {link[0], res[0]};
		kids[1] = spawn_in((uint32_t)d, cpu_donor, cd, 3, share_donor, &da);
		kids[2] = spawn_in((uint32_t)r, cpu_recip, cr, 2, share_recipient, &ra);
	}
	close(link[0]);
	close(link[1]);
	close(res[1]);
	read_full(res[0], out, sizeof(out));
	close(res[0]);
	for (int i = 2; i >= 1; i--) {
		int st;
		waitpid(kids[i], &st, 0);
		kids[i] = -1;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("sharing %s failed (status 0x%x)", i == 2 ? "recipient" : "donor", st);
	}
	gnt_domain_destroy((uint32_t)d);
	gnt_domain_destroy((uint32_t)r);
	for (size_t k = 0; k < SHARE_SIZES; k++) {
		char name[40], bname[40];
		uint32_t n = share_ns[k];
		if (!share_wanted(k))
			continue;
		snprintf(name, sizeof(name), "dir_per_page_%u", n);
		snprintf(bname, sizeof(bname), "raw_per_page_%u", n);
		set_result(R_DIR_PP + (int)k, name, "us", bname, out[k][0] / n, out[k][1] / n, 0,
			   quick ? 3 : 7);
		if (n == SHARE_MAX && want("dir_1GiB"))
			set_result(R_DIR_1G, "dir_1GiB", "ms", "raw_populate_1GiB", out[k][0] / 1e3,
				   out[k][1] / 1e3, 2.0, quick ? 3 : 7);
	}
}

/* gnt compare-sharing's figures (gnt_compare_run, one run each): time, total
 * hypercalls (both domains) and messages per approach and size, each beside
 * the map approach's figure for the same size.  Informational.  --quick
 * stops at 4096 pages; "--only compare_sharing" runs just these. */
static void compare_bench(bool quick)
{
	static const char *const tag[] = {"map", "copy", "transfer"};

	for (size_t k = 0; k < SHARE_SIZES && !(quick && share_ns[k] > 4096); k++) {
		struct gnt_compare_result res[GNT_CMP_APPROACHES];
		for (int a = 0; a < GNT_CMP_APPROACHES; a++) {
			int err;
			char probe[40];
			snprintf(probe, sizeof(probe), "cmp_%s_%u_ms", tag[a], share_ns[k]);
			if (!want(probe) && !want("compare_sharing")) {
				res[a].verified = 0;
				continue;
			}
			err = gnt_compare_run(a, share_ns[k], &res[a]);
			if (err < 0 || !res[a].verified) {
				errno = err < 0 ? -err : 0;
				die("gnt_compare_run(%s, %u)", tag[a], share_ns[k]);
			}
		}
		for (int a = 0; a < GNT_CMP_APPROACHES; a++) {
			const struct gnt_compare_result *x = &res[a], *m = &res[GNT_CMP_MAP];
			int i = R_CMP + (a * (int)SHARE_SIZES + (int)k) * 3;
			char n[3][40], b[3][40];
			if (!x->verified)
				continue;
			snprintf(n[0], 40, "cmp_%s_%u_ms", tag[a], share_ns[k]);
			snprintf(n[1], 40, "cmp_%s_%u_hc", tag[a], share_ns[k]);
			snprintf(n[2], 40, "cmp_%s_%u_msgs", tag[a], share_ns[k]);
			snprintf(b[0], 40, "cmp_map_%u_ms", share_ns[k]);
			snprintf(b[1], 40, "cmp_map_%u_hc", share_ns[k]);
			snprintf(b[2], 40, "cmp_map_%u_msgs", share_ns[k]);
			set_result(i, n[0], "ms", b[0], x->seconds * 1e3,
				   m->verified ? m->seconds * 1e3 : 0, 0, 1);
			set_result(i + 1, n[1], "calls", b[1], (double)(x->hc_donor + x->hc_recip),
				   m->verified ? (double)(m->hc_donor + m->hc_recip) : 0, 0, 1);
			set_result(i + 2, n[2], "msgs", b[2], (double)x->messages,
				   m->verified ? (double)m->messages : 0, 0, 1);
		}
	}
}

struct granter_args {
	domid_t mapper;
	int refs_out, done_in;
};
static void granter_main(void *p)
{
	struct granter_args *a = p;
	granter(a->mapper, a->refs_out, a->done_in);
}

struct mapper_args {
	int s, pipe_out, pipe_in, refs_in, results_out;
	bool quick;
	int cpu_self, cpu_gntd;
};
static void mapper_main(void *p)
{
	struct mapper_args *a = p;
	mapper(a->s, a->pipe_out, a->pipe_in, a->refs_in, a->results_out, a->quick, a->cpu_self,
	       a->cpu_gntd);
}

static const char *fmt_num(char *b, size_t n, double v)
{
	if (v >= 1000 || v <= -1000)
		snprintf(b, n, "%.1f", v);
	else if (v >= 1 || v <= -1)
		snprintf(b, n, "%.3f", v);
	else
		snprintf(b, n, "%.4f", v);
	return b;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gnt-bench [--json] [--gntd-cpu N] [--quick] [--only LIST] [--scale X]\n"
		"  Starts a private gntd, two domains and a raw-baseline server and prints\n"
		"  gnt's figures beside baselines measured in the same run.\n"
		"  --json        one JSON object per line\n"
		"  --gntd-cpu N  pin gntd (and the raw server) to CPU N (default 1, the CPU\n"
		"                opposite the mapper on CPU 0: cross-core); -1: unpinned\n"
		"  --quick       fewer iterations (about a third)\n"
		"  --only LIST   run only these benches (comma-separated names;\n"
		"                compare_sharing: every cmp_* line)\n"
		"  --scale X     multiply the iterations per round by X\n");
}

int main(int argc, char **argv)
{
	bool json = false, quick = false;
	int gntd_cpu = 1, cpu_map = 0, cpu_grant = 1, rc;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rs[2], p_ms[2], p_sm[2], p_refs[2], p_done[2], p_res[2];
	struct mapper_args ma;
	struct granter_args ga;
	uint32_t dom_a, dom_b;
	double memcpy_gbs;
	uint64_t t_start = now_ns();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--gntd-cpu") && i + 1 < argc)
			gntd_cpu = atoi(argv[++i]);
		else if (!strncmp(argv[i], "--gntd-cpu=", 11))
			gntd_cpu = atoi(argv[i] + 11);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
			scale = atof(argv[++i]);
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (ncpu < 2) { /* one CPU: everything on it */
		cpu_grant = 0;
		if (gntd_cpu > 0)
			gntd_cpu = 0;
	}
	if (gntd_cpu >= ncpu)
		gntd_cpu = (int)ncpu - 1;
	parent_pid = getpid();
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal); /* watchdog: a hang must not leave gntd behind */
	signal(SIGPIPE, SIG_IGN);
	alarm(300);

	/* memcpy first, alone, on the mapper's CPU */
	pin_cpu(cpu_map);
	memcpy_gbs = want("memcpy_64MiB") ? bench_memcpy(quick ? 3 : 7) : 0;
	{
		cpu_set_t all;
		CPU_ZERO(&all);
		for (long i = 0; i < ncpu && i < CPU_SETSIZE; i++)
			CPU_SET(i, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}

	/* a private gntd */
	snprintf(rundir, sizeof(rundir), "/tmp/gnt-bench.XXXXXX");
	if (!mkdtemp(rundir)) {
		rundir[0] = 0;
		die("mkdtemp");
	}
	setenv("GNT_RUNTIME_DIR", rundir, 1);
	setenv("GNT_NO_DAEMON", "1", 1);
	fflush(NULL);
	{
		/* Our own uid range for the domains' processes: as root gntd runs
		 * domain d under uid-base + d and kills a dying domain with
		 * kill(-1) under that uid, so with the default base a gntd of
		 * someone else's (tests running meanwhile) killing its domain 2
		 * would kill our mapper too. */
		static char base[16];
		static const char *args[4] = {"--uid-base", base, NULL, NULL};
		snprintf(base, sizeof(base), "%u",
			 0x60000000u + (((unsigned)getpid() & 0xffffu) << 15));
		if (getenv("GNT_BENCH_VERBOSE"))
			args[2] = "-v";
		rc = gnt_hv_start(args);
	}
	if (rc < 0) {
		errno = -rc;
		die("gntd did not start");
	}
	gntd_up = true;
	gntd_pid = read_gntd_pid();
	if (gntd_pid <= 0)
		die("no gntd.pid in %s", rundir);
	pin_pid(gntd_pid, gntd_cpu);

	if (pipe2(vc_cmd, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vc_unix) < 0)
		die("vchan bench pipes");
	efd_ping = eventfd(0, EFD_CLOEXEC);
	efd_pong = eventfd(0, EFD_CLOEXEC);
	efdp_ping = eventfd(0, EFD_CLOEXEC);
	efdp_pong = eventfd(0, EFD_CLOEXEC);
	if (efd_ping < 0 || efd_pong < 0 || efdp_ping < 0 || efdp_pong < 0)
		die("eventfd");
	ir = mmap(NULL, sizeof(*ir), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ir == MAP_FAILED)
		die("ideal ring");
	fl_box = mmap(NULL, 4 * sizeof(*fl_box), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fl_box == MAP_FAILED || pipe2(fl_ping, O_CLOEXEC) < 0 ||
	    pipe2(fl_pong, O_CLOEXEC) < 0)
		die("evtchn floor");

	/* the raw server, before we hold a gnt connection it could inherit */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rs) == 0);
	CHECK(pipe2(p_ms, O_CLOEXEC) == 0 && pipe2(p_sm, O_CLOEXEC) == 0);
	fflush(NULL);
	kids[0] = fork();
	if (kids[0] < 0)
		die("fork");
	if (kids[0] == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(0);
		pin_cpu(gntd_cpu);
		close(rs[0]);
		close(p_ms[1]);
		close(p_sm[0]);
		raw_server(rs[1], p_ms[0], p_sm[1]);
		_exit(0);
	}
	close(rs[1]);
	close(p_ms[0]);
	close(p_sm[1]);

	/* two domains; the granter's table holds 65536 + 2065 grants */
	{
		struct gnt_domain_config ca = {.max_grant_frames = 160};
		int a = gnt_domain_create("bench-granter", &ca);
		int b = gnt_domain_create("bench-mapper", NULL);
		if (a <= 0 || b <= 0) {
			errno = a <= 0 ? -a : -b;
			die("domain create");
		}
		dom_a = (uint32_t)a;
		dom_b = (uint32_t)b;
	}
	CHECK(pipe2(p_refs, O_CLOEXEC) == 0 && pipe2(p_done, O_CLOEXEC) == 0 &&
	      pipe2(p_res, O_CLOEXEC) == 0);
	ga = (struct granter_args){.mapper = (domid_t)dom_b, .refs_out = p_refs[1],
				   .done_in = p_done[0]};
	/* the granter must not hold the mapper's ends (EOF tells it to go) */
	{
		int others[] = {rs[0], p_ms[1], p_sm[0], p_refs[0], p_done[1], p_res[0], p_res[1]};
		kids[1] = spawn_in(dom_a, cpu_grant, others, 7, granter_main, &ga);
	}
	close(p_refs[1]);
	close(p_done[0]);
	ma = (struct mapper_args){.s = rs[0], .pipe_out = p_ms[1], .pipe_in = p_sm[0],
				  .refs_in = p_refs[0], .results_out = p_res[1],
				  .quick = quick, .cpu_self = cpu_map, .cpu_gntd = gntd_cpu};
	{
		int others[] = {p_res[0]};
		kids[2] = spawn_in(dom_b, cpu_map, others, 1, mapper_main, &ma);
	}
	close(rs[0]);
	close(p_ms[1]);
	close(p_sm[0]);
	close(p_refs[0]);
	close(p_res[1]);
	close(p_done[1]);

	/* the mapper reports everything at the end */
	{
		size_t got = 0;
		ssize_t r;
		while (got < sizeof(results) &&
		       (r = read(p_res[0], (char *)results + got, sizeof(results) - got)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("reading results");
			got += (size_t)r;
		}
		close(p_res[0]);
		for (int i = 2; i >= 0; i--) {
			int st;
			waitpid(kids[i], &st, 0);
			kids[i] = -1;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				errno = 0;
				die("%s failed (status 0x%x)",
				    i == 2 ? "mapper" : i == 1 ? "granter" : "raw server", st);
			}
		}
		if (got != sizeof(results)) {
			errno = 0;
			die("mapper sent no results");
		}
	}
	xenvchan_bench(quick);
	alarm(900); /* the sharing benches move 1 GiB many times */
	share_bench(quick, cpu_grant, cpu_map);
	compare_bench(quick);
	if (want("memcpy_64MiB"))
		set_result(R_MEMCPY, "memcpy_64MiB", "GB/s", "memcpy_64MiB", memcpy_gbs,
			   memcpy_gbs, 0, quick ? 3 : 7);
	cleanup();

	if (!json)
		printf("gnt-bench: mapper CPU %d, granter CPU %d, gntd + raw server CPU %d%s; "
		       "%.1f s\n\n"
		       "%-22s %12s %-5s  %-29s %12s %7s %7s\n",
		       cpu_map, cpu_grant, gntd_cpu, gntd_cpu < 0 ? " (unpinned)" : "",
		       (double)(now_ns() - t_start) / 1e9, "bench", "value", "unit", "baseline",
		       "baseline", "ratio", "target");
	for (int i = 0; i < R_COUNT; i++) {
		struct result *r = &results[i];
		if (!r->name[0])
			continue; /* not run (--only) */
		double ratio = r->bvalue > 0 ? r->value / r->bvalue : 0;
		char v[32], bv[32], ra[32];

		fmt_num(v, sizeof(v), r->value);
		fmt_num(bv, sizeof(bv), r->bvalue);
		snprintf(ra, sizeof(ra), "%.3f", ratio);
		if (json) {
			/* target: > 0 the ratio at most, < 0 at least its magnitude */
			printf("{\"bench\":\"%s\",\"value\":%s,\"unit\":\"%s\",\"baseline\":\"%s\","
			       "\"baseline_value\":%s,\"ratio\":%s,\"target\":%g}\n",
			       r->name, v, r->unit, r->bname, bv, ra, r->target);
		} else {
			char tg[32] = "-";
			if (r->target > 0) /* at most */
				snprintf(tg, sizeof(tg), "%s%.1fx", ratio <= r->target ? "" : "!",
					 r->target);
			else if (r->target < 0) /* at least (throughput) */
				snprintf(tg, sizeof(tg), "%s>=%.1fx",
					 ratio >= -r->target ? "" : "!", -r->target);
			printf("%-22s %12s %-5s  %-29s %12s %7s %7s\n", r->name, v, r->unit,
			       r->bname, bv, ra, tg);
		}
	}
	if (!json)
		printf("\n(us per batch, median of per-round medians; ratio = value / "
		       "baseline; '!' marks a missed target)\n");
	return 0;
}
