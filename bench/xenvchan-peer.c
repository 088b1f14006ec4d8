/* SPDX-License-Identifier: MIT */
/*
 * bench/xenvchan-peer.c - one end of Debian's unmodified libxenvchan, for
 * gnt-bench's xenvchan_* figures.  gnt-bench runs two of these, one in each
 * of two domains, with LD_LIBRARY_PATH at gnt's drop-ins (build/compat), so
 * what is measured is Xen's own vchan code on gnt:
 *
 *   xenvchan-peer server CLIENT_DOMID PATH RING CHUNK TOTAL ROUNDS
 *       each round: wait for the client's 1-byte "go", then write TOTAL
 *       bytes in CHUNK-byte libxenvchan_write calls through a RING-byte ring
 *   xenvchan-peer client SERVER_DOMID PATH TOTAL ROUNDS OUTFD
 *       each round: send "go", read TOTAL bytes (up to 64 KiB a call, as
 *       gnt-bench's readers), write the seconds it took (a double) to OUTFD
 *
 * Only Debian's headers here.  Exit status 0, or 1 with a message.
 */
#include <libxenvchan.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	fprintf(stderr, "xenvchan-peer: %s\n", what);
	return 1;
}

static int server(int peer, const char *path, size_t ring, size_t chunk, uint64_t total,
		  int rounds)
{
	/* the ring we write is the big one; the client's "go" needs little */
	struct libxenvchan *c = libxenvchan_server_init(NULL, peer, path, 1024, ring);
	char go;

	if (!c || chunk == 0 || chunk > sizeof(buf))
		return fail("server init");
	c->blocking = 1;
	memset(buf, 'x', sizeof(buf));
	for (int r = 0; r < rounds; r++) {
		if (libxenvchan_read(c, &go, 1) != 1)
			return fail("server: no go");
		for (uint64_t sent = 0; sent < total; sent += chunk)
			if (libxenvchan_write(c, buf, chunk) != (int)chunk)
				return fail("server write");
	}
	/* the client closes first: it has read everything */
	while (libxenvchan_is_open(c) && libxenvchan_read(c, &go, 1) > 0)
		;
	libxenvchan_close(c);
	return 0;
}

static int client(int peer, const char *path, uint64_t total, int rounds, int out)
{
	struct libxenvchan *c = NULL;

	for (int t = 0; t < 1000 && !c; t++) { /* the server publishes its keys */
		c = libxenvchan_client_init(NULL, peer, path);
		if (!c)
			usleep(10000);
	}
	if (!c)
		return fail("client init");
	c->blocking = 1;
	for (int r = 0; r < rounds; r++) {
		double t0 = now(), dt;
		uint64_t got = 0;
		if (libxenvchan_write(c, "g", 1) != 1)
			return fail("client: go");
		while (got < total) {
			int n = libxenvchan_read(c, buf, sizeof(buf));
			if (n <= 0)
				return fail("client read");
			got += (uint64_t)n;
		}
		dt = now() - t0;
		if (write(out, &dt, sizeof(dt)) != (ssize_t)sizeof(dt))
			return fail("client: result");
	}
	libxenvchan_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), argv[3], strtoul(argv[4], NULL, 0),
			      strtoul(argv[5], NULL, 0), strtoull(argv[6], NULL, 0), atoi(argv[7]));
	if (argc == 7 && !strcmp(argv[1], "client"))
		return client(atoi(argv[2]), argv[3], strtoull(argv[4], NULL, 0), atoi(argv[5]),
			      atoi(argv[6]));
	fprintf(stderr, "usage: xenvchan-peer server CLIENT_DOMID PATH RING CHUNK TOTAL ROUNDS\n"
			"       xenvchan-peer client SERVER_DOMID PATH TOTAL ROUNDS OUTFD\n");
	return 2;
}
