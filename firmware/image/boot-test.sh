#!/bin/sh
# Slow check, not in CI: boot the built image in qemu-system-aarch64 and wait
# until pbxgate's /healthz answers through the emulated network.
#
#   firmware/image/boot-test.sh dist/image/pbxgate-rpi-arm64.img   (make image-boot-test)
#
# qemu's raspi machines have no usable network, so this boots the image's
# own Debian arm64 kernel and initrd (taken from its boot partition) on the
# generic "virt" machine with the image as its disk: it checks everything
# above the Pi's firmware — read-only root, /var on the data partition and
# its growth, first boot, networking and the pbxgate service. Needs
# qemu-system-arm, mtools and curl; about 3-10 minutes without KVM.
set -eu
IMG=${1:?usage: boot-test.sh IMAGE}
TIMEOUT=${BOOT_TIMEOUT:-900}
PORT=${BOOT_TEST_PORT:-18080}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/pbxgate-boot.XXXXXX")
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# Work on a copy, 1 GiB larger: the first boot must grow the data partition.
cp --sparse=always "$IMG" "$WORK/disk.img"
truncate -s +1G "$WORK/disk.img"
BOOT="$WORK/disk.img@@8M"
kernel=$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$BOOT" ::/ | sed 's|^::/||' | grep '^vmlinuz' | sort | tail -1)
initrd=$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$BOOT" ::/ | sed 's|^::/||' | grep '^initrd.img' | sort | tail -1)
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "no kernel/initrd on the boot partition" >&2; exit 1; }
MTOOLS_SKIP_CHECK=1 mcopy -i "$BOOT" "::$kernel" "::$initrd" "$WORK/"

accel=tcg
[ -w /dev/kvm ] && [ "$(uname -m)" = aarch64 ] && accel=kvm
start=$(date +%s)
qemu-system-aarch64 -M virt -accel $accel -cpu max -m 1024 -smp 2 -nographic \
	-kernel "$WORK/$kernel" -initrd "$WORK/$initrd" \
	-append "root=LABEL=pbxgate-root ro rootwait console=ttyAMA0 net.ifnames=0" \
	-drive file="$WORK/disk.img",format=raw,if=virtio \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:8080 -device virtio-net-pci,netdev=n0 \
	</dev/null >"$WORK/console.log" 2>&1 &
QEMU_PID=$!

echo "booting $IMG (console log: $WORK/console.log) ..."
while :; do
	if body=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/healthz" 2>/dev/null); then
		echo "healthz after $(( $(date +%s) - start )) s: $body"
		break
	fi
	if ! kill -0 "$QEMU_PID" 2>/dev/null; then
		echo "qemu exited" >&2; tail -50 "$WORK/console.log" >&2; exit 1
	fi
	if [ $(( $(date +%s) - start )) -gt "$TIMEOUT" ]; then
		echo "no /healthz within $TIMEOUT s" >&2; tail -80 "$WORK/console.log" >&2; exit 1
	fi
	sleep 5
done
grep -E 'pbxgate|Reached target|Failed' "$WORK/console.log" | tail -20 || true
