#!/bin/sh
# Build a flashable Raspberry Pi (arm64: Pi 3, 4, 400, CM4) SD-card image
# with pbxgate. Run as root on Debian with mmdebstrap, arch-test, qemu-user-static and
# binfmt-support (for the arm64 maintainer scripts), dosfstools, mtools,
# e2fsprogs and fdisk; bmap-tools and xz-utils are used when present.
#
#   firmware/image/build.sh --deb dist/pbxgate_1.2.3_arm64.deb [--update-key release.pub] [--out dist/image]
#
# Layout (MBR, what the Pi's boot ROM reads):
#   p1  FAT32  PBXBOOT       256 MiB  /boot/firmware: firmware, kernel, provisioning file
#   p2  ext4   pbxgate-root  ~1 GiB   /      read-only (remounted rw only to provision)
#   p3  ext4   pbxgate-data  256 MiB  /var   grown to fill the card at first boot; the
#                                          store, backups and A/B pbxgate slots live here
# See docs/appliance.md.
set -eu

SUITE=bookworm
# netscope: the Debian mirror the image is built from (make image is a build, not a test)
MIRROR=http://deb.debian.org/debian
OUT=dist/image
DEB=
UPDATE_KEY=
HOSTNAME_DEFAULT=pbxgate
FALLBACK_ADDRESS=192.168.254.254/24
XZ=yes
while [ $# -gt 0 ]; do
	case "$1" in
	--suite) SUITE=$2; shift 2 ;;
	--mirror) MIRROR=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--deb) DEB=$2; shift 2 ;;
	--update-key) UPDATE_KEY=$2; shift 2 ;;
	--fallback-address) FALLBACK_ADDRESS=$2; shift 2 ;;
	--no-xz) XZ=no; shift ;;
	*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

die() { echo "build.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, chroot, file ownership)"
[ -n "$DEB" ] && [ -f "$DEB" ] || die "give --deb pbxgate_VERSION_arm64.deb (make deb)"
for tool in mmdebstrap arch-test mkfs.vfat mcopy mkfs.ext4 sfdisk; do
	command -v $tool >/dev/null || die "$tool missing: apt-get install mmdebstrap arch-test qemu-user-static binfmt-support dosfstools mtools e2fsprogs fdisk"
done
if [ "$(dpkg --print-architecture)" != arm64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
	die "arm64 binaries cannot run here: apt-get install qemu-user-static binfmt-support (and in a container: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64)"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
DEB=$(realpath "$DEB")
VERSION=$(dpkg-deb -f "$DEB" Version)
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/pbxgate-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/rootfs
start=$(date +%s)

echo "== rootfs ($SUITE arm64, pbxgate $VERSION)"
export PBXGATE_DEB=$DEB PBXGATE_VERSION=$VERSION PBXGATE_UPDATE_KEY=$UPDATE_KEY \
	PBXGATE_HOSTNAME=$HOSTNAME_DEFAULT PBXGATE_FALLBACK_ADDRESS=$FALLBACK_ADDRESS
mmdebstrap --architectures=arm64 --variant=minbase --components=main,non-free-firmware \
	--include=systemd-sysv,systemd-timesyncd,systemd-resolved,udev,kmod,iproute2,netbase,ca-certificates,openssh-server,avahi-daemon,cloud-guest-utils,fdisk,e2fsprogs,linux-image-arm64,raspi-firmware,firmware-brcm80211,initramfs-tools \
	--essential-hook="$HERE/defer-initramfs.sh \"\$1\"" \
	--customize-hook="$HERE/customize.sh \"\$1\"" \
	"$SUITE" "$ROOT" "$MIRROR"

# mmdebstrap empties /etc/machine-id after the hooks. Empty makes systemd
# generate an ID but not treat the boot as the first one; "uninitialized"
# does both, which pbxgate-firstboot.service (ConditionFirstBoot=yes:
# commit the ID, grow the data partition) depends on.
echo uninitialized > "$ROOT/etc/machine-id"

echo "== file systems"
BOOT_MB=256
DATA_MB=256
# Root: what is left without /boot/firmware and /var, plus 25 % headroom.
used=$(du -smx --exclude=./boot/firmware --exclude=./var "$ROOT" | cut -f1)
ROOT_MB=$(( used * 5 / 4 + 64 ))
mkdir "$WORK/var" "$WORK/boot"
# Move /var and /boot/firmware contents to their own partitions.
(cd "$ROOT/var" && tar -cf - .) | (cd "$WORK/var" && tar -xpf -)
find "$ROOT/var" -mindepth 1 -delete
cp -a "$ROOT/boot/firmware/." "$WORK/boot/"
find "$ROOT/boot/firmware" -mindepth 1 -delete

truncate -s ${BOOT_MB}M "$WORK/boot.vfat"
mkfs.vfat -F 32 -n PBXBOOT "$WORK/boot.vfat" >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$WORK/boot.vfat" "$WORK/boot/"* ::/
truncate -s ${ROOT_MB}M "$WORK/root.ext4"
mkfs.ext4 -q -L pbxgate-root -d "$ROOT" "$WORK/root.ext4"
truncate -s ${DATA_MB}M "$WORK/data.ext4"
# 4 KiB blocks: mke2fs would pick 1 KiB for 256 MiB ("small"), and the
# file system keeps its block size when it grows to fill the card.
mkfs.ext4 -q -b 4096 -L pbxgate-data -d "$WORK/var" "$WORK/data.ext4"

echo "== image"
IMG=$OUT/pbxgate-rpi-arm64.img
OFF_MB=8
TOTAL_MB=$(( OFF_MB + BOOT_MB + ROOT_MB + DATA_MB ))
rm -f "$IMG"
truncate -s ${TOTAL_MB}M "$IMG"
sfdisk --quiet "$IMG" <<SFDISK
label: dos
start=$(( OFF_MB * 2048 )), size=$(( BOOT_MB * 2048 )), type=c, bootable
start=$(( (OFF_MB + BOOT_MB) * 2048 )), size=$(( ROOT_MB * 2048 )), type=83
start=$(( (OFF_MB + BOOT_MB + ROOT_MB) * 2048 )), size=$(( DATA_MB * 2048 )), type=83
SFDISK
dd if="$WORK/boot.vfat" of="$IMG" bs=1M seek=$OFF_MB conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$IMG" bs=1M seek=$(( OFF_MB + BOOT_MB )) conv=notrunc,sparse status=none
dd if="$WORK/data.ext4" of="$IMG" bs=1M seek=$(( OFF_MB + BOOT_MB + ROOT_MB )) conv=notrunc,sparse status=none

cd "$OUT"
if command -v bmaptool >/dev/null; then
	bmaptool create -o pbxgate-rpi-arm64.img.bmap pbxgate-rpi-arm64.img
fi
if [ "$XZ" = yes ] && command -v xz >/dev/null; then
	xz -T0 -6 -k -f pbxgate-rpi-arm64.img
fi
sha256sum pbxgate-rpi-arm64.img* > SHA256SUMS
echo "pbxgate $VERSION" > VERSION
end=$(date +%s)
echo "== done in $(( end - start )) s"
ls -l "$OUT"
cat SHA256SUMS
