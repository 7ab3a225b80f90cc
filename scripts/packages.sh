#!/usr/bin/env bash
# Installs the Debian packages the tests use, in one apt-get run, skipping those already
# there: Chromium for the report's browser test, xmllint to validate the JUnit report
# against its schema, Prometheus (with promtool) for the fleet scan and the alerting rule,
# PostgreSQL for the shared watch history, curl for the load commands of `check --load`'s
# test. The tests start their own Prometheus and PostgreSQL on loopback, so the packages'
# own services are kept from starting. Idempotent; GOLEASH_CHROMIUM names another Chromium
# binary.
set -euo pipefail
wanted=()
if [ -z "${GOLEASH_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  wanted+=(chromium)
fi
command -v xmllint >/dev/null 2>&1 || wanted+=(libxml2-utils)
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  wanted+=(prometheus)
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  wanted+=(postgresql)
fi
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
# policy-rc.d exit 101 keeps the packages' own services from starting during the install:
# the tests run their own instances and a system Prometheus would hold port 9090.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  made_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >&2 || status=$?
if [ -n "$made_policy" ]; then
  $sudo rm -f "$policy"
fi
exit "$status"
