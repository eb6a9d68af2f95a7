#!/usr/bin/env bash
# Installs what the interoperability tests need: freeDiameter (daemon and
# extensions), tshark, a C compiler (test/fdtest builds a small LD_PRELOAD
# library that keeps freeDiameterd on the loopback interface), and
# redis-server (the state tests start their own, on a free port; the
# package's system service is not started); and what test/watch needs:
# prometheus and promtool (the dashboard and the alert rules) and chromium
# (the status page, headless).
# Idempotent: does nothing when everything is present. Debian/Ubuntu only.
set -euo pipefail

FD_EXT_DIR=/usr/lib/freeDiameter
pkgs=()

if ! command -v freeDiameterd >/dev/null 2>&1 ||
	[ ! -f "$FD_EXT_DIR/rt_default.fdx" ] ||
	[ ! -f "$FD_EXT_DIR/acl_wl.fdx" ] ||
	! command -v tshark >/dev/null 2>&1; then
	pkgs+=(freediameterd freediameter-extensions tshark)
fi
if ! command -v cc >/dev/null 2>&1; then
	pkgs+=(gcc libc6-dev)
fi
if ! command -v redis-server >/dev/null 2>&1; then
	pkgs+=(redis-server)
fi
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
	pkgs+=(prometheus)
fi
if ! command -v chromium >/dev/null 2>&1; then
	pkgs+=(chromium)
fi

if [ ${#pkgs[@]} -eq 0 ]; then
	echo "test/deps.sh: freeDiameter, its extensions, tshark, cc, redis-server, prometheus and chromium already installed; nothing to do"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo -n)
	else
		echo "test/deps.sh: need root (or sudo) to install: ${pkgs[*]}" >&2
		exit 1
	fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "test/deps.sh: apt-get not found; install by hand: ${pkgs[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, without a prompt.
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		"${sudo[@]}" debconf-set-selections || true
fi

log=$(mktemp)
# Packages must not start system services (redis-server's would listen on
# 127.0.0.1:6379): unless a policy already says so, deny starts for the
# install's duration and remove the policy afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	own_policy=1
fi
cleanup() {
	rm -f "$log"
	if [ -n "$own_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT
# Wait for another apt or dpkg (unattended upgrades, a second install) to
# release its lock rather than failing at once.
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
update() {
	if ! "${apt[@]}" update >"$log" 2>&1 </dev/null; then
		tail -n 20 "$log" >&2
		echo "test/deps.sh: apt-get update failed" >&2
		exit 1
	fi
}
install() { "${apt[@]}" install -y --no-install-recommends "${pkgs[@]}" >"$log" 2>&1 </dev/null; }
# Install from the package lists as they are when they know the packages;
# refresh them first otherwise (a fresh image has none), and once more if
# the install still cannot find something.
if ! apt-cache show "${pkgs[@]}" >/dev/null 2>&1; then
	update
fi
if ! install; then
	update
	if ! install; then
		tail -n 20 "$log" >&2
		echo "test/deps.sh: installing ${pkgs[*]} failed" >&2
		exit 1
	fi
fi
if ! command -v freeDiameterd >/dev/null 2>&1 || [ ! -f "$FD_EXT_DIR/rt_default.fdx" ] ||
	! command -v tshark >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1 ||
	! command -v redis-server >/dev/null 2>&1 ||
	! command -v promtool >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
	echo "test/deps.sh: installed ${pkgs[*]} but something is still missing" >&2
	exit 1
fi
# The prometheus package enables a system service (listening on every
# interface) where systemd runs: the policy above kept it from starting,
# and disabling it keeps it from starting at boot; the tests start their
# own, on loopback.
if [[ " ${pkgs[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
	systemctl is-enabled prometheus >/dev/null 2>&1; then
	"${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "test/deps.sh: installed ${pkgs[*]}"
