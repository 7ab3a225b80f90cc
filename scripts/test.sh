#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the Go toolchains the fixtures need and
# the Debian packages the tests use (scripts/packages.sh), then checks formatting and
# lints and runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/toolchains.sh
bash scripts/packages.sh
source scripts/env.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
