#!/usr/bin/env bash
# Installs what the shopper's page tests need, when missing: headless
# Chromium (Debian's chromium package) for the browser tests in
# cmd/flashsale/browser_test.go, Node.js for the page's JavaScript unit
# tests (web/jstest), and axe-core, the accessibility checker the browser
# tests run in the page (from npm, MPL-2.0, for the tests only, never
# served). Prints the browser's path, for FLASHSALE_TEST_CHROME.
# Debian/Ubuntu, as root or with sudo.
set -euo pipefail

axe_version=4.14.1
axe_dir=${FLASHSALE_AXE_DIR:-$HOME/.cache/flashsale/axe-core}

find_browser() {
	for name in chromium chromium-browser google-chrome-stable google-chrome headless-shell; do
		if command -v "$name"; then return 0; fi
	done
	return 1
}

missing=()
find_browser >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "scripts/browser.sh: ${missing[*]} missing, and not root to install them" >&2; exit 1; }
		sudo=sudo
	fi
	echo "scripts/browser.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ "$(cat "$axe_dir/version" 2>/dev/null)" != "$axe_version" ]; then
	echo "scripts/browser.sh: installing axe-core $axe_version into $axe_dir" >&2
	npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$axe_version" >&2
	echo "$axe_version" >"$axe_dir/version"
fi

find_browser
