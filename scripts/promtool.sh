#!/usr/bin/env bash
# Finds promtool, Prometheus's rule checker, for CI's checks of
# deploy/prometheus/alerts.yml, and prints its path. When it is not on the
# PATH, it takes the binary out of Debian's prometheus package into
# ~/.cache/flashsale/promtool rather than installing the package: that
# would also install and, on a machine with systemd, start a Prometheus
# server. Debian/Ubuntu; apt-get download needs no root, the index update
# it may need does.
set -euo pipefail

dir=${FLASHSALE_PROMTOOL_DIR:-$HOME/.cache/flashsale/promtool}

if command -v promtool; then exit 0; fi
if [ -x "$dir/promtool" ]; then echo "$dir/promtool"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download prometheus >&2 2>/dev/null; then
	# A fresh machine (or container) has no package index yet.
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "scripts/promtool.sh: promtool missing, and not root to update the package index" >&2; exit 1; }
		sudo=sudo
	fi
	echo "scripts/promtool.sh: updating the package index" >&2
	$sudo apt-get update -qq >&2
	apt-get download prometheus >&2
fi
echo "scripts/promtool.sh: extracting promtool from $(ls prometheus_*.deb) into $dir" >&2
dpkg-deb -x prometheus_*.deb extracted
mkdir -p "$dir"
install -m 0755 extracted/usr/bin/promtool "$dir/promtool"
"$dir/promtool" --version >&2
echo "$dir/promtool"
