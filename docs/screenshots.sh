#!/usr/bin/env bash
# Screenshots of the built documentation in headless Chromium, to look at what a reader sees:
# the home page, the API page of AEDEncoder and one gallery example.
#
#   docs/screenshots.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR: the HTML build (default docs/_build/html; build it first, see docs/conf.py).
# OUT_DIR: where the PNGs go (default /tmp/docs-shots), outside the repository.
# Needs chromium (Debian: apt-get install chromium) or CHROMIUM=/path/to/chrome.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-docs/_build/html}")
out=${2:-/tmp/docs-shots}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$browser" ]; then
    echo "screenshots: no chromium found; install it (apt-get install chromium) or set CHROMIUM" >&2
    exit 2
fi
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

shoot() {  # shoot NAME PAGE [HEIGHT]
    local name=$1 page=$2 height=${3:-2000}
    if [ ! -f "$build/$page" ]; then
        echo "screenshots: $build/$page is missing; build the documentation first" >&2
        exit 2
    fi
    # --virtual-time-budget lets the page's scripts (theme, search) settle before the capture
    "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$profile" --virtual-time-budget=3000 \
        --window-size=1400,"$height" --screenshot="$out/$name.png" "file://$build/$page" \
        > "$out/$name.log" 2>&1
    echo "$out/$name.png  <- $page"
}

shoot home index.html
shoot aedencoder generated/hsiae.AEDEncoder.html 4000
shoot example auto_examples/plot_segmentation.html 4000
