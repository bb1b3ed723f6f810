#!/usr/bin/env bash
# Sets up, builds, builds the images, starts the agent on its built-in default configuration,
# and runs busybox inside a micro-VM whose file I/O is served by the System VM.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset default >/dev/null
# Only what the demo runs; scripts/test.sh builds everything.
cmake --build --preset default --target host-agent twinwall-vmm images

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

echo "--- a micro-VM writes into the tenant's storage, another reads it back:"
$agent run -- /bin/busybox cp /tmp/sample.bin /home/copy.bin
$agent run -- /bin/busybox ls -l /home
$agent run -- /bin/busybox md5sum /tmp/sample.bin /home/copy.bin
echo "--- a gcc -static C++ program, unmodified, in a micro-VM:"
g++ -static -O2 -o build/wordfreq scripts/wordfreq.cc
$agent cp build/wordfreq default:/bin/wordfreq
$agent cp README.md default:/home/README.md
$agent run -- /bin/wordfreq /home/README.md
$agent status
echo "the agent keeps running; stop it with: $agent stop"
