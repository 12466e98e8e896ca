#!/usr/bin/env bash
# The browser the console's tests drive (tests/browser): Debian's headless Chromium at /usr/bin/chromium,
# installed when missing (as root). Playwright (PyPI, in requirements.lock) drives it; its own browser
# download is not used.
set -euo pipefail
source "$(dirname "$0")/env.sh"
CHROMIUM="${OSMS_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] && exit 0
if [[ $EUID -ne 0 ]]; then
  log "warning: $CHROMIUM is missing, so the browser tests will fail: apt-get install chromium (as root)"
  exit 0
fi
log "installing chromium from Debian's packages (the console's browser tests)"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
