#!/usr/bin/env bash
# Headless Chromium for the browser tests, on this machine (needs root to install): Debian's
# `chromium`, `chromium-driver`, `fonts-noto-cjk` and `fonts-noto-color-emoji` (so screenshots
# show Chinese and the bot's emoji), installed once when missing, quietly (apt's output is shown
# only if it fails). Nothing is downloaded at test time: the tests drive these system binaries.
# Prints the driver's path (for FUYUAN_CHROMEDRIVER) on standard output, everything else on
# standard error. Idempotent; a second run only checks that they are there.
#
# usage: FUYUAN_CHROMEDRIVER="$(scripts/chromium.sh)"
set -euo pipefail

DRIVER=/usr/bin/chromedriver
BROWSER=/usr/bin/chromium

_say() { echo "fuyuan-bot: $*" >&2; }

_fonts_ok() {
    local families
    families="$(fc-list : family 2>/dev/null)" || return 1
    grep -qi "noto sans cjk" <<<"$families" && grep -qi "noto color emoji" <<<"$families"
}

if [ ! -x "$DRIVER" ] || [ ! -x "$BROWSER" ] || ! _fonts_ok; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        _say "installing Chromium for the browser tests needs root and apt-get."
        exit 1
    fi
    _say "installing Chromium, its driver and fonts (Debian's chromium, chromium-driver, fonts-noto-cjk, fonts-noto-color-emoji)..."
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    # Another install (PostgreSQL's, say) may hold dpkg's lock for a while: wait for it.
    if ! { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
        apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends \
            chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji fontconfig; } >"$log" 2>&1; then
        cat "$log" >&2
        _say "could not install Chromium (apt-get failed, see above)."
        exit 1
    fi
fi

# A driver that does not start (a missing library) is no better than none.
if ! "$DRIVER" --version >/dev/null 2>&1; then
    _say "$DRIVER does not run."
    exit 1
fi
echo "$DRIVER"
