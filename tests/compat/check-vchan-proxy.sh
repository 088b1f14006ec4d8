#!/usr/bin/env bash
# tests/compat/check-vchan-proxy.sh BUILDDIR - Debian's unmodified
# vchan-socket-proxy (xen-utils-4.17) between two gnt domains, on the
# drop-ins in BUILDDIR/compat (LD_LIBRARY_PATH) and Debian's libxenvchan.
#
#  1. it loads with every symbol bound at start (LD_BIND_NOW), xs_* bound
#     to the drop-in libxenstore and xc_* to the drop-in libxenctrl, and
#     (needs the gnttab/evtchn drop-ins) xengnttab_/xengntshr_/xenevtchn_
#     to the drop-ins rather than Debian's libraries;
#  2. a server in domain A and a client in domain B (stdin/stdout mode)
#     exchange a line each way and both exit 0 when the server's input
#     ends (needs libxengnttab.so.1 and libxenevtchn.so.1 drop-ins).
#
# Ends with "N passed, N failed".
set -u
B=${1:-build}
C=$(cd "$B" && pwd)/compat
G=$PWD/$B/bin/gnt
P=/usr/lib/xen-4.17/bin/vchan-socket-proxy
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
[ -x "$P" ] || { ko "vchan-socket-proxy" "$P missing (apt-get install xen-utils-4.17)"; finish; }
for l in libxenstore.so.4 libxenctrl.so.4.17 libxengnttab.so.1 libxenevtchn.so.1; do
	[ -e "$C/$l" ] && ok "drop-in $l present" || ko "drop-in $l present" "missing in $C"
done
export LD_LIBRARY_PATH=$C

# ---- 1. loading ---------------------------------------------------------------
log=$(mktemp "${TMPDIR:-/tmp}/gnt-vchan.XXXXXX")
LD_BIND_NOW=1 LD_DEBUG=bindings "$P" >/dev/null 2>"$log" # usage: exits 1 after loading
if grep -q 'symbol lookup error\|version .* not found' "$log"; then
	ko "loads with LD_BIND_NOW" "$(grep -m1 'symbol lookup error\|not found' "$log")"
else
	ok "loads with LD_BIND_NOW"
fi
bound_to() { # symbol-prefix library
	local bad
	bad=$(grep "binding file $P " "$log" | grep "symbol \`$1" | grep -v "to $C/$2 " | head -n1)
	if [ -z "$(grep "binding file $P \|binding file .*libxenvchan" "$log" | grep "symbol \`$1")" ]; then
		ko "$1* bound to the drop-in $2" "no binding seen"
	elif [ -n "$bad" ] || grep "symbol \`$1" "$log" | grep -v "to $C/$2 " | grep -q .; then
		ko "$1* bound to the drop-in $2" "$(grep "symbol \`$1" "$log" | grep -v "to $C/$2 " | head -n1 | sed 's/^ *[0-9]*: *//')"
	else
		ok "$1* bound to the drop-in $2"
	fi
}
bound_to xs_ libxenstore.so.4
bound_to xc_ libxenctrl.so.4.17
bound_to xengnttab_ libxengnttab.so.1 # waits for i5-gnttab
bound_to xengntshr_ libxengnttab.so.1 # waits for i5-gnttab
bound_to xenevtchn_ libxenevtchn.so.1 # waits for i5-gnttab
rm -f "$log"

# ---- 2. streaming between two domains ---------------------------------------
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
a=$("$G" domain create vca)
b=$("$G" domain create vcb)
path=/local/domain/$a/data/vchan
d=$GNT_RUNTIME_DIR
chmod 777 "$d"
echo "from A" >"$d/a.in"
# Neither side may see EOF on its input before both lines have crossed (a
# proxy whose input ends closes the vchan at once, and its peer may see the
# close before the data): both inputs are FIFOs the test closes afterwards.
mkfifo -m 666 "$d/a.fifo" "$d/b.fifo"
timeout 60 "$G" exec vca -- sh -c "exec $P -m server $b $path - <$d/a.fifo >$d/a.out 2>$d/a.err" &
sp=$!
exec 7>"$d/a.fifo"
echo "from A" >&7
timeout 60 "$G" exec vcb -- sh -c "exec $P -m client $a $path - <$d/b.fifo >$d/b.out 2>$d/b.err" &
cp=$!
exec 8>"$d/b.fifo"
echo "from B" >&8
for _ in $(seq 600); do # both lines crossed (or a side gave up)
	grep -q "from B" "$d/a.out" 2>/dev/null && grep -q "from A" "$d/b.out" 2>/dev/null && break
	kill -0 $sp 2>/dev/null && kill -0 $cp 2>/dev/null || break
	sleep 0.05
done
exec 7>&- # the server's input ends: it closes the vchan, both exit
exec 8>&-
wait $sp
src=$?
# a client whose server never came waits for ever (as on Xen): end it
[ $src -eq 0 ] || kill $cp 2>/dev/null
wait $cp
crc=$?
[ "$(cat "$d/b.out" 2>/dev/null)" = "from A" ] && ok "A -> B over vchan" ||
	ko "A -> B over vchan" "B got '$(cat "$d/b.out" 2>/dev/null)' ($(head -c 200 "$d/b.err" 2>/dev/null))"
[ "$(cat "$d/a.out" 2>/dev/null)" = "from B" ] && ok "B -> A over vchan" ||
	ko "B -> A over vchan" "A got '$(cat "$d/a.out" 2>/dev/null)' ($(head -c 200 "$d/a.err" 2>/dev/null))"
[ $src -eq 0 ] && ok "server exits 0" || ko "server exits 0" "status $src"
[ $crc -eq 0 ] && ok "client exits 0" || ko "client exits 0" "status $crc"
finish
