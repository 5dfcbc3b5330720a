#!/usr/bin/env bash
# The whole test suite, on a fresh machine: install the Debian packages the tests need, build
# (or reuse from the cache) the test images, then run every test. README command 2; .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

echo "== cargo test"
cargo test --all-targets 2>&1 | tee /tmp/guestfix-cargo-test.log
