#!/usr/bin/env bash
# tests/cli/check-xs.sh BUILDDIR - Debian's unmodified xenstore-utils
# (xenstore-read, -write, -ls, -list, -rm, -exists, -chmod, -watch) against
# gnt's store, from dom0 and from inside a domain.  Needs xenstore-utils
# (tests/deps.sh installs it as root); missing tools fail, never skip.
set -u
B=${1:-build}
G=$PWD/$B/bin/gnt
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
check() { # name expected command...
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	[ "$got" = "$want" ] && ok "$name" || ko "$name" "got '$got', want '$want'"
}
for t in xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm xenstore-exists xenstore-chmod xenstore-watch; do
	command -v $t >/dev/null || { ko "$t installed" "missing (apt-get install xenstore-utils)"; echo "$pass passed, $fail failed"; exit 1; }
done
export GNT_RUNTIME_DIR=$(mktemp -d "${GNT_TEST_TMP:-/tmp}"/gnt-test.XXXXXX)
chmod 755 "$GNT_RUNTIME_DIR"
unset GNT_NO_DAEMON
cleanup() {
	"$G" down >/dev/null 2>&1
	[ -f "$GNT_RUNTIME_DIR/gntd.pid" ] && kill -9 "$(cat "$GNT_RUNTIME_DIR/gntd.pid")" 2>/dev/null
	rm -rf "$GNT_RUNTIME_DIR"
}
trap cleanup EXIT
"$G" up --uid-base $((0x50000000 + ($$ % 4096) * 0x8000)) >/dev/null || { ko "gnt up" "failed"; echo "$pass passed, $fail failed"; exit 1; }
export XENSTORED_PATH=$("$G" store path)
check "store path is the socket" "$GNT_RUNTIME_DIR/xenstored.sock" echo "$XENSTORED_PATH"
check "dom0: write and read" "bar" sh -c 'xenstore-write /foo bar /foo/baz 42 && xenstore-read /foo'
check "dom0: read two paths" "bar
42" xenstore-read /foo /foo/baz
check "dom0: list" "baz" xenstore-list /foo
check "dom0: ls" 'baz = "42"' xenstore-ls /foo
check "dom0: domain 0's nodes" "Domain-0" xenstore-read /local/domain/0/name
check "dom0: exists" "0" sh -c 'xenstore-exists /foo; echo $?'
check "dom0: missing node" "1" sh -c 'xenstore-read /nope >/dev/null 2>&1; echo $?'
check "dom0: rm" "1" sh -c 'xenstore-rm /foo/baz && xenstore-exists /foo/baz; echo $?'
# a watch: the initial event, then one per change
xenstore-watch -n 3 /foo > "$GNT_RUNTIME_DIR/w.out" 2>&1 &
wp=$!
sleep 0.3
xenstore-write /foo/a 1
xenstore-write /foo/b 2
wait $wp
check "dom0: watch events (initial, then each change)" "/foo
/foo/a
/foo/b" cat "$GNT_RUNTIME_DIR/w.out"
id=$("$G" domain create xsdom)
[ -n "$id" ] && ok "domain created" || ko "domain created" "no id"
check "introduced: /local/domain/<id>/name" "xsdom" xenstore-read /local/domain/$id/name
# inside the domain (one process: the domain dies when it exits):
# XENSTORED_PATH is set by gnt exec; relative paths are its own
check "domain: own domid, own data, nothing of dom0's" "$id
hello
read /foo: 1
write /evil: 1
dom0's socket: 1" "$G" exec xsdom -- sh -c "
	xenstore-read domid
	xenstore-write data/x hello && xenstore-read data/x
	xenstore-read /foo >/dev/null 2>&1; echo \"read /foo: \$?\"
	xenstore-write /evil x >/dev/null 2>&1; echo \"write /evil: \$?\"
	XENSTORED_PATH=$XENSTORED_PATH xenstore-read /foo >/dev/null 2>&1; echo \"dom0's socket: \$?\""
# the domain died with its last process: its directory went
check "dead domain: directory gone" "1" sh -c "xenstore-exists /local/domain/$id; echo \$?"
# permissions set by dom0 let a domain read
id2=$("$G" domain create xsdom2)
xenstore-write /shared v
xenstore-chmod /shared n0 r$id2
check "chmod: a reader may read, not write" "v
write: 1" "$G" exec xsdom2 -- sh -c 'xenstore-read /shared; xenstore-write /shared w >/dev/null 2>&1; echo "write: $?"'
check "chmod: value unchanged" "v" xenstore-read /shared
"$G" down >/dev/null && ok "gnt down" || ko "gnt down" "failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
