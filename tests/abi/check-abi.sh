#!/usr/bin/env bash
# tests/abi/check-abi.sh BUILDDIR - gnt's public headers against Xen's ABI.
#
#  1. Every public header in include/gnt/ compiles on its own (included twice,
#     so its guard is tested too) as C11 with -pedantic -Wall -Wextra -Werror,
#     and as C++11 (control.h and grant.h promise extern "C").
#  2. Every constant, type and member that include/gnt/xen.h declares (listed
#     by gen-list.awk from the header itself) has the same value and type,
#     size, alignment and offset as in Xen's public headers from libxen-dev
#     (/usr/include/xen, interface version 0x00040e00, this host's ABI):
#     abi_dump.c is compiled once against each header and the outputs
#     compared, one check per name.
#
# Prints "PASS name" / "FAIL name: why" per check and ends with
# "N passed, N failed"; exits non-zero on any failure.  A missing tool or
# header is a failure.  Artifacts go to BUILDDIR/abi/.
# Environment: CC (cc), CXX (c++), GNT_ABI_INCLUDE (include: the directory
# holding gnt/*.h, to check another copy of the headers).
set -u
cd "$(dirname "$0")/../.." || exit 1
if [ $# -ne 1 ]; then
	echo "usage: tests/abi/check-abi.sh BUILDDIR" >&2
	exit 2
fi
out=$1/abi
inc=${GNT_ABI_INCLUDE:-include}
cc=${CC:-cc}
cxx=${CXX:-c++}
here=tests/abi
passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
# first line of a compiler log, for a FAIL line
firsterr() { grep -m1 -E 'error|Error' "$1" || head -n1 "$1"; }

mkdir -p "$out" || { fail "builddir" "cannot create $out"; finish; }

have_cc=1
have_cxx=1
for tool in "$cc" "$cxx" awk; do
	if command -v "$tool" >/dev/null 2>&1; then
		pass "tool $tool"
	else
		fail "tool $tool" "not installed"
		[ "$tool" = "$cc" ] && have_cc=0
		[ "$tool" = "$cxx" ] && have_cxx=0
	fi
done
have_xen=1
for h in xen.h grant_table.h memory.h event_channel.h; do
	[ -f "/usr/include/xen/$h" ] || have_xen=0
done
if [ "$have_xen" = 1 ]; then
	pass "Xen public headers (libxen-dev)"
else
	fail "Xen public headers (libxen-dev)" "/usr/include/xen/{xen,grant_table,memory,event_channel}.h missing (tests/deps.sh installs libxen-dev)"
fi
[ "$have_cc" = 1 ] || finish

# ---- 1. each public header on its own -------------------------------------
headers=$(cd "$inc" && ls gnt/*.h 2>/dev/null)
[ -n "$headers" ] || fail "public headers" "none in $inc/gnt/"
for h in $headers; do
	log=$out/header-$(basename "$h" .h)
	printf '#include "%s"\n#include "%s"\n' "$h" "$h" >"$log.c"
	if "$cc" -std=c11 -pedantic -Wall -Wextra -Werror -I"$inc" -fsyntax-only "$log.c" \
		>"$log.c.log" 2>&1; then
		pass "header $h alone (C11 -pedantic)"
	else
		fail "header $h alone (C11 -pedantic)" "$(firsterr "$log.c.log") (log: $log.c.log)"
	fi
	[ "$have_cxx" = 1 ] || continue
	if "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -fsyntax-only -x c++ \
		"$log.c" >"$log.cc.log" 2>&1; then
		pass "header $h alone (C++11)"
	else
		fail "header $h alone (C++11)" "$(firsterr "$log.cc.log") (log: $log.cc.log)"
	fi
done

# ---- 2. gnt/xen.h against Xen's headers -----------------------------------
if ! awk -f "$here/gen-list.awk" "$inc/gnt/xen.h" >"$out/abi_list.h" 2>"$out/gen-list.log"; then
	fail "list of names in gnt/xen.h" "$(head -n1 "$out/gen-list.log")"
	finish
fi
nitems=$(wc -l <"$out/abi_list.h")
if ! grep -q '^ABI_CONST(' "$out/abi_list.h" || ! grep -q '^ABI_FIELD(' "$out/abi_list.h"; then
	fail "list of names in gnt/xen.h" "no constants or members found ($nitems items)"
	finish
fi
pass "list of names in gnt/xen.h ($nitems items)"

dumpflags=(-std=gnu11 -Wall -Wextra -I"$out")
if ! "$cc" "${dumpflags[@]}" -Werror -I"$inc" "$here/abi_dump.c" -o "$out/abi_gnt" \
	>"$out/abi_gnt.log" 2>&1; then
	fail "abi_dump against gnt/xen.h" "$(firsterr "$out/abi_gnt.log") (log: $out/abi_gnt.log)"
	finish
fi
[ "$have_xen" = 1 ] || finish

# A name Xen's headers lack (or declare differently) is a compile error there.
# Then compile the items one by one to name each, and compare the rest.
: >"$out/missing.txt"
if ! "$cc" "${dumpflags[@]}" -DABI_XEN "$here/abi_dump.c" -o "$out/abi_xen" \
	>"$out/abi_xen.log" 2>&1; then
	mkdir -p "$out/one"
	: >"$out/abi_list_xen.h"
	while IFS= read -r item; do
		printf '%s\n' "$item" >"$out/one/abi_list.h"
		if "$cc" -std=gnu11 -DABI_XEN -I"$out/one" -fsyntax-only "$here/abi_dump.c" \
			>"$out/one/log" 2>&1; then
			printf '%s\n' "$item" >>"$out/abi_list_xen.h"
		else
			printf '%s\t%s\n' "$item" "$(firsterr "$out/one/log" | sed 's/^.*error: //')" \
				>>"$out/missing.txt"
		fi
	done <"$out/abi_list.h"
	mkdir -p "$out/xen"
	cp "$out/abi_list_xen.h" "$out/xen/abi_list.h"
	if ! "$cc" -std=gnu11 -Wall -Wextra -DABI_XEN -I"$out/xen" "$here/abi_dump.c" \
		-o "$out/abi_xen" >"$out/abi_xen.log" 2>&1; then
		fail "abi_dump against Xen's headers" "$(firsterr "$out/abi_xen.log") (log: $out/abi_xen.log)"
		finish
	fi
fi
if ! "$out/abi_gnt" >"$out/gnt.txt" 2>&1; then
	fail "abi_dump against gnt/xen.h" "did not run"
	finish
fi
if ! "$out/abi_xen" >"$out/xen.txt" 2>&1; then
	fail "abi_dump against Xen's headers" "did not run"
	finish
fi
if [ "$(wc -l <"$out/gnt.txt")" -ne "$nitems" ]; then
	fail "abi_dump against gnt/xen.h" "printed $(wc -l <"$out/gnt.txt") lines for $nitems items"
fi

# Compare line by line, keyed on the name (all before the first " key=").
# Names missing from Xen's headers come from missing.txt with the compiler's
# message.
awk -v missing="$out/missing.txt" -v xen="$out/xen.txt" '
function key(l) { sub(/ [a-z]+=.*/, "", l); return l }
function val(l) { return substr(l, length(key(l)) + 2) }
function item_name(it,    s) {
	s = it
	sub(/^ABI_[A-Z]+\(/, "", s); sub(/\)$/, "", s); sub(/, /, ".", s)
	return s
}
BEGIN {
	FS = "\t"
	while ((getline l < missing) > 0) {
		split(l, f, "\t")
		miss[item_name(f[1])] = f[2]
	}
	FS = " "
	while ((getline l < xen) > 0)
		x[key(l)] = val(l)
}
{
	k = key($0)
	if (k in miss)
		printf "FAIL abi %s: not in Xen'"'"'s headers as in gnt/xen.h (%s)\n", k, miss[k]
	else if (!(k in x))
		printf "FAIL abi %s: no value from Xen'"'"'s headers\n", k
	else if (x[k] != val($0))
		printf "FAIL abi %s: gnt %s, Xen %s\n", k, val($0), x[k]
	else
		printf "PASS abi %s (%s)\n", k, val($0)
}' "$out/gnt.txt" >"$out/result.txt"
cat "$out/result.txt"
passed=$((passed + $(grep -c '^PASS' "$out/result.txt")))
failed=$((failed + $(grep -c '^FAIL' "$out/result.txt")))
finish
