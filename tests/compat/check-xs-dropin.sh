#!/usr/bin/env bash
# tests/compat/check-xs-dropin.sh BUILDDIR - Debian's unmodified
# xenstore-utils with the drop-in libxenstore.so.4 (LD_LIBRARY_PATH=
# BUILDDIR/compat), from dom0 and from inside a domain: first LD_DEBUG
# shows that the drop-in is the libxenstore loaded (in dom0 and under
# `gnt exec`), then tests/cli/check-xs.sh's whole run goes through it.
set -u
B=${1:-build}
C=$(cd "$B" && pwd)/compat
G=$PWD/$B/bin/gnt
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
[ -e "$C/libxenstore.so.4" ] || { ko "drop-in" "$C/libxenstore.so.4 missing"; finish; }
command -v xenstore-read >/dev/null || { ko "xenstore-utils" "not installed"; finish; }
export LD_LIBRARY_PATH=$C
# which libxenstore the dynamic linker maps (the binary is BIND_NOW: a
# missing symbol or version would already have stopped it)
loaded() { LD_DEBUG=libs "$@" 2>&1 >/dev/null | sed -n 's/.*calling init: \(.*libxenstore[^ ]*\).*/\1/p' | head -n1; }
export GNT_RUNTIME_DIR=$(mktemp -d "${GNT_TEST_TMP:-/tmp}"/gnt-test.XXXXXX)
chmod 755 "$GNT_RUNTIME_DIR"
unset GNT_NO_DAEMON
cleanup() {
	"$G" down >/dev/null 2>&1
	[ -f "$GNT_RUNTIME_DIR/gntd.pid" ] && kill -9 "$(cat "$GNT_RUNTIME_DIR/gntd.pid")" 2>/dev/null
	rm -rf "$GNT_RUNTIME_DIR"
}
trap cleanup EXIT
"$G" up --uid-base $((0x50000000 + ($$ % 4096) * 0x8000)) >/dev/null || { ko "gnt up" "failed"; finish; }
export XENSTORED_PATH=$("$G" store path)
got=$(loaded xenstore-read /local/domain/0/name)
[ "$got" = "$C/libxenstore.so.4" ] && ok "dom0: xenstore-read loads the drop-in" ||
	ko "dom0: xenstore-read loads the drop-in" "loaded '${got:-nothing}'"
"$G" domain create ldom >/dev/null
got=$("$G" exec ldom -- sh -c 'LD_DEBUG=libs xenstore-read domid 2>&1 >/dev/null' |
	sed -n 's/.*calling init: \(.*libxenstore[^ ]*\).*/\1/p' | head -n1)
[ "$got" = "$C/libxenstore.so.4" ] && ok "domain: xenstore-read loads the drop-in" ||
	ko "domain: xenstore-read loads the drop-in" "loaded '${got:-nothing}'"
"$G" down >/dev/null
trap - EXIT
cleanup
# the whole xenstore-utils run, every tool through the drop-in
tests/cli/check-xs.sh "$B" >"${TMPDIR:-/tmp}/gnt-xs-dropin.$$" 2>&1
rc=$?
sed 's/^\(PASS\|FAIL\) /\1 drop-in: /' "${TMPDIR:-/tmp}/gnt-xs-dropin.$$" | grep -E '^(PASS|FAIL)'
pass=$((pass + $(grep -c '^PASS' "${TMPDIR:-/tmp}/gnt-xs-dropin.$$")))
fail=$((fail + $(grep -c '^FAIL' "${TMPDIR:-/tmp}/gnt-xs-dropin.$$")))
[ $rc -eq 0 ] || grep -q '^FAIL' "${TMPDIR:-/tmp}/gnt-xs-dropin.$$" || ko "check-xs.sh" "exit $rc"
rm -f "${TMPDIR:-/tmp}/gnt-xs-dropin.$$"
finish
