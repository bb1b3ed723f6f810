#!/usr/bin/env bash
# Sets up, builds, builds the images, starts the agent on its built-in default configuration,
# and runs busybox inside a micro-VM whose file I/O is served by the System VM.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default
cmake --build --preset default --target images

agent=build/host-agent/host-agent
$agent status >/dev/null 2>&1 || $agent start

sample=$(mktemp)
head -c 1048576 /dev/urandom >"$sample"
$agent cp "$sample" default:/tmp/sample.bin

echo "--- inside a micro-VM, file served by the System VM:"
$agent run --isolation system-vm -- /bin/busybox sha256sum /tmp/sample.bin
echo "--- on the host, the same bytes:"
sha256sum "$sample"
rm -f "$sample"

echo "--- the program writes a file into tenant storage:"
$agent run -- /bin/busybox sh -c 'echo "hello from $(uname -s) in a micro-VM" > /home/hello.txt && cat /home/hello.txt'
$agent status
echo "the agent keeps running; stop it with: $agent stop"
