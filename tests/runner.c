/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const struct gnt_test __start_gnt_tests[];
extern const struct gnt_test __stop_gnt_tests[];

static char test_dir[256];

const char *gnt_test_dir(void)
{
	return test_dir;
}

void gnt__test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(1);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(p);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Kill every process left in the test's group, then reap what is ours. */
static void reap_group(pid_t pgid)
{
	kill(-pgid, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	/* Orphans re-parented to us (we are a subreaper) die with the group. */
	for (int i = 0; i < 200; i++) {
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			break;
		kill(-pgid, SIGKILL);
		usleep(5000);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

static int run_one(const struct gnt_test *t)
{
	/* $GNT_TEST_TMP lets make check keep its runs apart from others' */
	const char *base = getenv("GNT_TEST_TMP");
	char tmpl[200];
	int status = 0, rc;
	double t0 = now_s();
	pid_t pid;

	snprintf(tmpl, sizeof(tmpl), "%s/gnt-test.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(test_dir, sizeof(test_dir), "%s", tmpl);
	chmod(test_dir, 0755);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int before, after;
		setpgid(0, 0);
		setenv("GNT_RUNTIME_DIR", test_dir, 1);
		before = count_fds();
		t->fn();
		after = count_fds();
		if (!t->no_fd_check && after != before)
			gnt__test_fail(__FILE__, __LINE__,
				       "fd leak: %d open before, %d after", before,
				       after);
		fflush(NULL);
		_exit(0);
	}
	setpgid(pid, pid);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (now_s() - t0 > t->timeout_s) {
			fprintf(stderr, "  timeout after %d s\n", t->timeout_s);
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		usleep(2000);
	}
	reap_group(pid);
	nftw(test_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (status == -1)
		rc = 1;
	else if (WIFSIGNALED(status)) {
		fprintf(stderr, "  killed by signal %d\n", WTERMSIG(status));
		rc = 1;
	} else
		rc = WEXITSTATUS(status) != 0;
	printf("%s %s (%.2fs)\n", rc ? "FAIL" : "PASS", t->name, now_s() - t0);
	fflush(stdout);
	return rc;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (const struct gnt_test *t = __start_gnt_tests; t < __stop_gnt_tests; t++) {
		if (argc > 1) {
			int match = 0;
			for (int i = 1; i < argc; i++)
				if (strstr(t->name, argv[i]))
					match = 1;
			if (!match)
				continue;
		}
		if (run_one(t))
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
