/* SPDX-License-Identifier: MIT */
/*
 * tests/runner.h - gnt's test runner.  A test is registered with TEST(name)
 * and runs in its own forked child and process group, with a timeout, a
 * private runtime directory ($GNT_RUNTIME_DIR) and an fd-leak check.  After
 * each test every process left in its group is killed and the directory is
 * removed, pass or fail.
 */
#ifndef GNT_TEST_RUNNER_H
#define GNT_TEST_RUNNER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gnt_test {
	const char *name;
	void (*fn)(void);
	int timeout_s;
	int no_fd_check;
};

#define GNT__TEST(fn_, tmo_, nofd_)                                            \
	static void fn_(void);                                                 \
	__attribute__((used, section("gnt_tests"), aligned(8)))                \
	static const struct gnt_test gnt__test_##fn_ = {#fn_, fn_, tmo_, nofd_}; \
	static void fn_(void)

#define TEST(fn_) GNT__TEST(fn_, 60, 0)
#define TEST_TIMEOUT(fn_, s_) GNT__TEST(fn_, s_, 0)
/* For tests whose subject deliberately keeps descriptors (e.g. mappings). */
#define TEST_NOFDCHECK(fn_, s_) GNT__TEST(fn_, s_, 1)

void gnt__test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			gnt__test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);   \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a__ = (long long)(a), b__ = (long long)(b);          \
		if (a__ != b__)                                                \
			gnt__test_fail(__FILE__, __LINE__,                     \
				       "%s == %lld, expected %s == %lld", #a,  \
				       a__, #b, b__);                          \
	} while (0)

#define FAIL(...) gnt__test_fail(__FILE__, __LINE__, __VA_ARGS__)

/* The test's private runtime directory (also exported as GNT_RUNTIME_DIR). */
const char *gnt_test_dir(void);

#endif
