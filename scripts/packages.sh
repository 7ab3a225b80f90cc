#!/usr/bin/env bash
# Installs the Debian packages the tests use, in one apt-get run, skipping those already
# there: Chromium for the report's browser test, xmllint to validate the JUnit report
# against its schema, curl for the load commands of `check --load`'s test. Idempotent; GOLEASH_CHROMIUM names another Chromium binary.
set -euo pipefail
wanted=()
if [ -z "${GOLEASH_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  wanted+=(chromium)
fi
command -v xmllint >/dev/null 2>&1 || wanted+=(libxml2-utils)
command -v curl >/dev/null 2>&1 || wanted+=(curl)
if [ ${#wanted[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing ${wanted[*]} (Debian) for the tests" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >&2
