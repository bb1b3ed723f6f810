#!/usr/bin/env bash
# build-images.sh OUT_DIR INIT_BINARY
#
# Builds the System VM from Debian packages only:
#   OUT_DIR/vmlinuz            Debian's kernel, unpacked from its .deb (never installed on the host)
#   OUT_DIR/initramfs.cpio.gz  /init (the static init, which contains the I/O server) and the
#                              modules the VM needs, with their load order in /modules/order
#   OUT_DIR/tenants.img        the template tenant disk (ext4): tenants/default with busybox
# The kernel package is cached in OUT_DIR/cache, so a rebuild needs no network.
set -euo pipefail

out=${1:?usage: build-images.sh OUT_DIR INIT_BINARY}
init=${2:?usage: build-images.sh OUT_DIR INIT_BINARY}
cache=$out/cache
mkdir -p "$cache"

# Modules the init loads; their dependencies are added ahead of them below. crc32c_generic is
# no declared dependency of ext4 (it reaches crc32c through the crypto API), but without it the
# mount fails with a misleading ENOENT.
wanted=(virtio_pci virtio_console virtio_blk crc32c_generic ext4)
# Debian's busybox-static seeds the default tenant.
busybox=/bin/busybox
tenant_disk_mib=512

die() {
    echo "build-images: $*" >&2
    exit 1
}

[[ -x "$init" ]] || die "init binary $init missing"
[[ -x "$busybox" ]] || die "$busybox missing (install busybox-static: scripts/setup.sh)"
# A tenant has no loader or libc, so its busybox must be the static build.
headers=$(readelf -l "$busybox" 2>/dev/null || true)
[[ $headers != *INTERP* ]] || die "$busybox is dynamic (install busybox-static: scripts/setup.sh)"

# --- The kernel package: the one the linux-image-amd64 metapackage depends on.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -n "$pkg" ]]; then
    deb=$(ls -t "$cache/${pkg}"_*_amd64.deb 2>/dev/null | head -n 1 || true)
    if [[ -z "$deb" ]]; then
        # apt-get download writes into the current folder; the warning about the download
        # being unsandboxed (we are root, _apt cannot write here) is expected.
        (cd "$cache" && apt-get download -q "$pkg" 2>&1 |
            grep -v "Download is performed unsandboxed" || true)
        deb=$(ls -t "$cache/${pkg}"_*_amd64.deb 2>/dev/null | head -n 1 || true)
        [[ -n "$deb" ]] || die "apt-get download $pkg failed (is Debian's archive reachable?)"
    fi
else
    # No package lists (apt-get update never ran): use the newest cached kernel if any.
    deb=$(ls -t "$cache"/linux-image-[0-9]*_amd64.deb 2>/dev/null | head -n 1 || true)
    [[ -n "$deb" ]] || die "cannot resolve linux-image-amd64 (run scripts/setup.sh first)"
fi
unpacked=$cache/$(basename "$deb" .deb)
if [[ ! -d "$unpacked/boot" ]]; then
    rm -rf "$unpacked.tmp"
    dpkg-deb -x "$deb" "$unpacked.tmp"
    mv "$unpacked.tmp" "$unpacked"
fi
kver=$(ls "$unpacked/lib/modules")
[[ $(wc -w <<<"$kver") -eq 1 ]] || die "expected one kernel in $deb, found: $kver"
install -m 0644 "$unpacked/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"

# --- Modules in dependency order: each module after everything `modinfo -F depends` names.
moddir=$unpacked/lib/modules/$kver
declare -A placed=()
order=()
place() {
    local name=$1 file dep alt
    [[ -n "${placed[$name]:-}" ]] && return
    # Module names use '_' where file names may use '-'; packages may compress modules.
    alt=${name//_/-}
    file=$(find "$moddir/kernel" \( -name "$name.ko" -o -name "$name.ko.xz" \
        -o -name "$name.ko.zst" -o -name "$alt.ko" -o -name "$alt.ko.xz" \
        -o -name "$alt.ko.zst" \) -print -quit)
    [[ -n "$file" ]] || die "module $name not in $(basename "$deb")"
    placed[$name]=$file
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
        place "$dep"
    done
    order+=("$name")
}
for m in "${wanted[@]}"; do
    place "$m"
done

# --- initramfs. The init has no decompressor, so modules go in uncompressed.
stage=$out/initramfs.d
rm -rf "$stage"
mkdir -p "$stage/modules" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/srv"
install -m 0755 "$init" "$stage/init"
# A console node lets the kernel give /init its stdio before devtmpfs is mounted; without it
# the init opens /dev/console itself (which it does anyway), so failing here is harmless.
mknod -m 0600 "$stage/dev/console" c 5 1 2>/dev/null || true
: >"$stage/modules/order"
for m in "${order[@]}"; do
    src=${placed[$m]}
    case $src in
        *.ko.xz) xz -dc "$src" >"$stage/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$src" >"$stage/modules/$m.ko" ;;
        *) cp "$src" "$stage/modules/$m.ko" ;;
    esac
    echo "$m.ko" >>"$stage/modules/order"
done
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
rm -rf "$stage"

# --- Template tenant disk. mkfs.ext4 -d fills it from a folder without mounting anything;
# the file is sparse, so its 512 MiB cost only what is written.
root=$out/tenants.d
rm -rf "$root"
mkdir -p "$root/tenants/default/bin" "$root/tenants/default/home" "$root/tenants/default/tmp"
chmod 0700 "$root/tenants"
chmod 1777 "$root/tenants/default/tmp"
install -m 0755 "$busybox" "$root/tenants/default/bin/busybox"
rm -f "$out/tenants.img.tmp"
truncate -s "${tenant_disk_mib}M" "$out/tenants.img.tmp"
mkfs.ext4 -q -F -L twinwall-tenants -E root_owner=0:0 -d "$root" "$out/tenants.img.tmp"
mv "$out/tenants.img.tmp" "$out/tenants.img"
rm -rf "$root"

echo "build-images: kernel $kver, ${#order[@]} modules ($(IFS=,; echo "${order[*]}")), initramfs $(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB"
