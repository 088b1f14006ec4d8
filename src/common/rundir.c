/* SPDX-License-Identifier: MIT */
/* common/rundir.c - where gntd's sockets live: $GNT_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/gnt, else /run/gnt (root) or /tmp/gnt-<uid>. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *gnt__default_rundir(char *buf, size_t n)
{
	const char *e = getenv("GNT_RUNTIME_DIR");

	if (e && *e) {
		snprintf(buf, n, "%s", e);
		return buf;
	}
	e = getenv("XDG_RUNTIME_DIR");
	if (e && *e)
		snprintf(buf, n, "%s/gnt", e);
	else if (geteuid() == 0)
		snprintf(buf, n, "/run/gnt");
	else
		snprintf(buf, n, "/tmp/gnt-%u", (unsigned)geteuid());
	return buf;
}
