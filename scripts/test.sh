#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds everything (warnings are errors), builds the
# System VM images, and runs the whole test suite, including the libFuzzer smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

cmake --preset ci
cmake --build --preset ci
cmake --build --preset ci --target images

# The decoder fuzzer needs clang; it gets its own build tree.
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target transport_decode_fuzz

# tini reaps what the tests' agents and System VMs leave behind: PID 1 here does not.
tini -s -- ctest --preset ci --timeout 900
tini -s -- ctest --test-dir build-fuzz -R fuzz --output-on-failure
