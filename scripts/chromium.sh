#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test of `goleash report` (the test runs it
# headless on the report's HTML). Idempotent: does nothing when /usr/bin/chromium exists
# or GOLEASH_CHROMIUM names another binary.
set -euo pipefail
if [ -n "${GOLEASH_CHROMIUM:-}" ] || [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing chromium (Debian) for the report's browser test" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
/usr/bin/chromium --version >&2
