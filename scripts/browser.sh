#!/usr/bin/env bash
# Installs what the shopper's page tests need, when missing: headless
# Chromium (Debian's chromium package) for the browser tests in
# cmd/flashsale/browser_test.go, and Node.js for the page's JavaScript
# unit tests (web/jstest). Prints the browser's path, for
# FLASHSALE_TEST_CHROME. Debian/Ubuntu, as root or with sudo.
set -euo pipefail

find_browser() {
	for name in chromium chromium-browser google-chrome-stable google-chrome headless-shell; do
		if command -v "$name"; then return 0; fi
	done
	return 1
}

missing=()
find_browser >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
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
find_browser
