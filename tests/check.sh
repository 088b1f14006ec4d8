#!/usr/bin/env bash
# tests/check.sh - what `make check` runs: build everything twice (normal and
# ASan+UBSan), run every test binary of both builds, and print one total.
# The last line is "N passed, N failed".  Exit status 0 only if all passed.
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
log=$(mktemp -d /tmp/gnt-check.XXXXXX)
trap 'rm -rf "$log"' EXIT
# tests make their private dirs here, so leftovers are ours, not another tree's
export GNT_TEST_TMP=$log/t
mkdir -p "$GNT_TEST_TMP"
chmod 0711 "$log" "$GNT_TEST_TMP" # domain uids traverse to their runtime dirs

tests/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

build() { # dir sanitize
	if ! make -s -j"$jobs" BUILD="$1" SANITIZE="$2" tests >"$log/build-$1.txt" 2>&1; then
		cat "$log/build-$1.txt"
		echo "build $1 FAILED"
		failed=$((failed + 1))
		return 1
	fi
}

run() { # label binary...
	local label=$1; shift
	echo "== $label"
	"$@" 2>&1 | tee "$log/out.txt"
	local last
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/out.txt" | tail -1)
	if [ -z "$last" ]; then
		echo "$label: no result line"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + $(echo "$last" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$last" | cut -d' ' -f3)))
}

if build build 0; then
	run unit build/tests/unit
	run integration build/tests/integration
	# the same suite with every domain's table at v2 (libgnt switches at connect)
	GNT_GRANT_VERSION=2 run "integration (grant table v2)" build/tests/integration
	run hostile build/tests/hostile
	GNT_GRANT_VERSION=2 run "hostile (grant table v2)" build/tests/hostile
	run abi tests/abi/check-abi.sh build
	run cli tests/cli/check-cli.sh build
	run "xenstore-utils" tests/cli/check-xs.sh build
	# Debian's libxenvchan and Xen's API on gnt's drop-ins, all symbols bound at load
	run compat env LD_LIBRARY_PATH="$PWD/build/compat" LD_BIND_NOW=1 build/tests/compat
	run "abi (drop-ins)" tests/compat/check-abi-compat.sh build libxenstore.so.4 \
		libxenctrl.so.4.17 libxengnttab.so.1 libxenevtchn.so.1 libxenvchan.so.4.17
	run "xenstore-utils on the drop-in" tests/compat/check-xs-dropin.sh build
	run "vchan-socket-proxy on the drop-ins" tests/compat/check-vchan-proxy.sh build
fi
if build build-asan 1; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run "unit (asan+ubsan)" build-asan/tests/unit
	run "integration (asan+ubsan)" build-asan/tests/integration
	run "hostile (asan+ubsan)" build-asan/tests/hostile
	# Debian's libxenvchan (not instrumented) in an ASan test binary: libasan
	# comes first with the executable, so no LD_PRELOAD is needed
	run "compat gnttab/evtchn (asan+ubsan)" env LD_LIBRARY_PATH="$PWD/build-asan/compat" \
		LD_BIND_NOW=1 build-asan/tests/compat
fi
leftover=$(pgrep -f "^$PWD/build(-asan)?/bin/gntd" || true)
if [ -n "$leftover" ]; then
	echo "check: gntd processes left behind: $leftover"
	failed=$((failed + 1))
fi
if ls -d "$GNT_TEST_TMP"/gnt-test.* >/dev/null 2>&1; then
	echo "check: runtime directories left behind: $(ls -d "$GNT_TEST_TMP"/gnt-test.*)"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
