#!/usr/bin/env bash
# Installs every Debian package that the build, the images and the tests need.
# Idempotent: running it again on a set-up machine only re-checks the list.
set -euo pipefail

packages=(
    # Toolchain and build.
    build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev libfuzzer-14-dev
    # Libraries.
    libboost1.81-dev libboost-json1.81-dev libcli11-dev libtomlplusplus-dev libspdlog-dev
    libfmt-dev libseccomp-dev libgtest-dev libgmock-dev libbenchmark-dev
    # System VM and tenant images, and the System VM itself.
    qemu-system-x86 qemu-utils busybox-static e2fsprogs cpio kmod xz-utils zstd
    # Tests and benchmarks: a reaper for daemons, and a peer sandbox to compare with.
    tini bubblewrap coreutils
)

if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: run as root (it installs Debian packages with apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup.sh: ${#packages[@]} packages present"
