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
# its growth, first boot, provisioning, networking and the pbxgate service.
# Needs qemu-system-arm, mtools, curl, python3 (QMP power-down), e2fsprogs
# and a host pbxgate binary ($PBXGATE, default bin/pbxgate from make build)
# to write the provisioning file; about 3-10 minutes without KVM.
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

# Provision like an installer would: the first boot must apply and remove it.
PBXGATE=${PBXGATE:-bin/pbxgate}
mkdir "$WORK/prov"
echo "boot test admin password" | "$PBXGATE" provision --boot "$WORK/prov" \
	--admin-password-stdin --hostname gw-boottest --region AT --timezone Europe/Vienna \
	--modem ec25-1,867698041234567,1234 >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -i "$BOOT" "$WORK/prov/pbxgate-provision.yaml" ::/

accel=tcg
[ -w /dev/kvm ] && [ "$(uname -m)" = aarch64 ] && accel=kvm
start=$(date +%s)
qemu-system-aarch64 -M virt -accel $accel -cpu max -m 1024 -smp 2 -nographic \
	-kernel "$WORK/$kernel" -initrd "$WORK/$initrd" \
	-append "root=LABEL=pbxgate-root ro rootwait console=ttyAMA0 net.ifnames=0" \
	-drive file="$WORK/disk.img",format=raw,if=virtio \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:8080 -device virtio-net-pci,netdev=n0 \
	-qmp unix:"$WORK/qmp.sock",server=on,wait=off \
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
if grep -a 'FAILED' "$WORK/console.log"; then
	echo "failed units on the console" >&2; exit 1
fi

# Power down cleanly, then look at the disk the way the next boot would.
python3 - "$WORK/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush(); f.readline()
PY
i=0
while kill -0 "$QEMU_PID" 2>/dev/null && [ $i -lt 120 ]; do sleep 2; i=$((i + 2)); done
if kill -0 "$QEMU_PID" 2>/dev/null; then
	echo "guest did not power off in 240 s; killing it" >&2
	kill "$QEMU_PID"
fi
QEMU_PID=

fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi; }
files=$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$BOOT" ::/)
check "provisioning file removed from the boot partition" '! echo "$files" | grep -q pbxgate-provision.yaml'
check "provisioning receipt left" 'echo "$files" | grep -q pbxgate-provision.done.txt'
# p2 (root) and p3 (data) from the partition table, which growpart changed.
part() { sfdisk -d "$WORK/disk.img" | awk -v n="disk.img$1 " 'index($0, n) { gsub(/[=,]/, " "); print $4, $6 }'; }
set -- $(part 2)
dd if="$WORK/disk.img" of="$WORK/root.ext4" bs=512 skip="$1" count="$2" conv=sparse status=none
env_file=$(debugfs -R "cat /etc/pbxgate/pbxgate.env" "$WORK/root.ext4" 2>/dev/null)
check "SIM PIN in /etc/pbxgate/pbxgate.env" 'echo "$env_file" | grep -q "PBXGATE_MODEM_PIN_EC25_1=.1234."'
check "host name set" '[ "$(debugfs -R "cat /etc/hostname" "$WORK/root.ext4" 2>/dev/null)" = gw-boottest ]'
check "region in pbxgate.yaml" 'debugfs -R "cat /etc/pbxgate/pbxgate.yaml" "$WORK/root.ext4" 2>/dev/null | grep -q "default_country: AT"'
set -- $(part 3)
total=$(( $(stat -c %s "$WORK/disk.img") / 512 ))
check "data partition grown to the end of the disk ($(( ($1 + $2) * 512 / 1048576 )) of $(( total * 512 / 1048576 )) MiB)" '[ $(( $1 + $2 + 2048 )) -ge $total ]'
exit $fail
