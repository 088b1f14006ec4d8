#!/usr/bin/env bash
# tests/deps.sh - what the test suite needs beyond gcc and make, installed
# when run as root on Debian, otherwise named.  A missing tool fails the
# suite; nothing is skipped silently.
#   libxen-dev   Xen's public headers (ABI checks: tests/abi)
#   g++          the public headers must compile as C++ (tests/abi)
#   python3      JSON output checks (tests/cli)
#   xenstore-utils  Debian's unmodified xenstore tools against gnt's store
#   xen-utils-4.17  Debian's vchan-socket-proxy (tests/compat); installing it
#                starts no daemon (invoke-rc.d/policy-rc.d; without systemd as
#                init nothing is enabled) and pulls in udev
set -u
need=()
[ -f /usr/include/xen/grant_table.h ] || need+=(libxen-dev)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
command -v xenstore-read >/dev/null || need+=(xenstore-utils)
[ -x /usr/lib/xen-4.17/bin/vchan-socket-proxy ] || need+=(xen-utils-4.17)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/gnt-deps.log 2>&1; then
		apt-get update -q >>/tmp/gnt-deps.log 2>&1
		apt-get install -y -q --no-install-recommends "${need[@]}" >>/tmp/gnt-deps.log 2>&1 || {
			cat /tmp/gnt-deps.log; echo "deps: could not install ${need[*]}"; exit 1; }
	fi
	exit 0
fi
echo "deps: missing Debian packages: ${need[*]} (run 'make check' as root, or apt-get install them)"
exit 1
