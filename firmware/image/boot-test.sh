#!/bin/sh
# Slow check, not in CI: provision the built image, boot it in
# qemu-system-aarch64, use the portal through the emulated network as the
# provisioned admin, power it down and inspect the disk. Exit 1 and FAIL:
# lines when a check fails (list in docs/appliance.md, "Boot check").
#
#   firmware/image/boot-test.sh dist/image/pbxgate-rpi-arm64.img   (make image-boot-test)
#
# Network: the guest's user-mode network is restricted (restrict=on): it
# gets an address from qemu's DHCP server and the portal is forwarded to
# 127.0.0.1:$BOOT_TEST_PORT, but nothing the guest sends (SIP REGISTER, NTP,
# DNS) leaves qemu, so the check keeps its traffic on this machine. The NIC
# has no option ROM (romfile=): the kernel is booted directly, no PXE, so
# ipxe-qemu's efi-virtio.rom is not needed.
#
# Environment: PBXGATE (host binary, bin/pbxgate), BOOT_TIMEOUT (900 s),
# BOOT_TEST_PORT (18080), BOOT_STABLE_SECONDS (75: how long pbxgate must stay
# up after /healthz), KEEP_CONSOLE (copy the console log to this file).
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

# Provision like an installer would: the first boot must apply it, take
# the secrets off the boot partition, and the daemon must come up with
# them. The registrar is the host's address inside qemu's user network
# (10.0.2.2), which restrict=on below makes unreachable: qemu drops every
# packet the guest sends anywhere but its own DHCP server, so the REGISTERs
# never leave qemu and pbxgate must not wait for them.
PBXGATE=${PBXGATE:-bin/pbxgate}
ADMIN_PW="boot test admin password"
SIP_PW="sip-secret-$$-boottest"
PIN=8642
# netscope: inside qemu's restricted user network; qemu drops it (see above)
REGISTRAR=10.0.2.2:5060
mkdir "$WORK/prov"
echo "$ADMIN_PW" | PBXGATE_SIP_PASSWORD=$SIP_PW "$PBXGATE" provision --boot "$WORK/prov" \
	--admin-password-stdin --hostname gw-boottest --region AT --timezone Europe/Vienna \
	--pbx-registrar $REGISTRAR --pbx-domain boottest.local --pbx-user gateway \
	--modem ec25-1,867698041234567,$PIN >/dev/null
grep -q "$SIP_PW" "$WORK/prov/pbxgate-provision.yaml" || { echo "provisioning file lacks the SIP password" >&2; exit 1; }
MTOOLS_SKIP_CHECK=1 mcopy -i "$BOOT" "$WORK/prov/pbxgate-provision.yaml" ::/

fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi; }
# console: the kernel, systemd's unit status lines and (forwarded) the
# journal, so pbxgate's and the first-boot scripts' output is in it too.
con() { grep -a "$@" "$WORK/console.log"; }
http() { curl -sS --max-time 20 -b "$WORK/cookies" -c "$WORK/cookies" -o "$WORK/body" -w '%{http_code} %{redirect_url}' "$@"; }
form_token() { sed -n 's/.*name="form_token" value="\([^"]*\)".*/\1/p' "$WORK/body" | head -1; }

accel=tcg
[ -w /dev/kvm ] && [ "$(uname -m)" = aarch64 ] && accel=kvm
start=$(date +%s)
qemu-system-aarch64 -M virt -accel $accel -cpu max -m 1024 -smp 2 -nographic \
	-kernel "$WORK/$kernel" -initrd "$WORK/$initrd" \
	-append "root=LABEL=pbxgate-root ro rootwait console=ttyAMA0 net.ifnames=0 systemd.journald.forward_to_console=1" \
	-drive file="$WORK/disk.img",format=raw,if=virtio \
	-netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:8080 -device virtio-net-pci,netdev=n0,romfile= \
	-qmp unix:"$WORK/qmp.sock",server=on,wait=off \
	</dev/null >"$WORK/console.log" 2>&1 &
QEMU_PID=$!
[ -n "${KEEP_CONSOLE:-}" ] && echo "console log copied to $KEEP_CONSOLE at the end"
keep_console() { [ -z "${KEEP_CONSOLE:-}" ] || cp "$WORK/console.log" "$KEEP_CONSOLE"; }

# wait_for WHAT COMMAND: poll until COMMAND succeeds (qemu alive, TIMEOUT).
wait_for() {
	while ! eval "$2"; do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			echo "qemu exited while waiting for $1" >&2; tail -50 "$WORK/console.log" >&2; keep_console; exit 1
		fi
		if [ $(( $(date +%s) - start )) -gt "$TIMEOUT" ]; then
			echo "no $1 within $TIMEOUT s" >&2; tail -80 "$WORK/console.log" >&2; keep_console; exit 1
		fi
		sleep 5
	done
}

echo "booting $IMG (console log: $WORK/console.log) ..."
wait_for /healthz 'body=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/healthz" 2>/dev/null)'
healthz_at=$(( $(date +%s) - start ))
echo "healthz after $healthz_at s: $body"
wait_for "multi-user.target" 'con -q "Reached target.*Multi-User System"'
echo "multi-user.target after $(( $(date +%s) - start )) s"

# The first boot.
check "provisioning applied at first boot" 'con -q "Finished.*Apply the pbxgate provisioning file"'
check "first-boot unit (machine ID, data partition growth) finished" 'con -q "Finished.*pbxgate appliance first boot"'
check "growpart grew partition 3" 'con -q "CHANGED: partition=3"'
check "resize2fs grew the data file system" 'con -q "is now [0-9]* (4k) blocks long"'
check "pbxgate.service started (READY=1)" 'con -q "Started.*pbxgate messaging gateway"'
check "no first-run password printed (the provisioned admin exists)" '! con -q "shown only this once"'

# The portal, as the installer would use it: the provisioned admin
# confirms first-run setup with the provisioned password, then logs in.
base=http://127.0.0.1:$PORT
r=$(http "$base/readyz")
check "/readyz ready with sip degraded (registrar $REGISTRAR unreachable): $r $(cat "$WORK/body")" \
	'[ "${r% *}" = 200 ] && tr -d " " <"$WORK/body" | grep -q "\"ready\":true" && tr -d " " <"$WORK/body" | grep -q "\"name\":\"sip\",\"state\":\"degraded\""'
r=$(http "$base/setup")
check "setup asks the existing (provisioned) admin for its password: $r" '[ "${r% *}" = 200 ] && grep -q "name=\"username\"" "$WORK/body" && ! grep -q "name=\"password2\"" "$WORK/body"'
tok=$(form_token)
setup() { http --data-urlencode "form_token=$tok" --data-urlencode "username=admin" --data-urlencode "current_password=$1" \
	--data-urlencode language=de --data-urlencode country=AT --data-urlencode timezone=Europe/Vienna "$base/setup"; }
r=$(setup "not the provisioned password")
check "setup refuses a wrong password: $r" '[ "${r% *}" = 422 ]'
r=$(setup "$ADMIN_PW")
check "setup accepts the provisioned admin password: $r" '[ "$r" = "303 $base/" ]'
r=$(http "$base/")
check "dashboard with the session: $r" '[ "${r% *}" = 200 ]'
rm -f "$WORK/cookies"
r=$(http "$base/login"); tok=$(form_token)
r=$(http --data-urlencode "form_token=$tok" --data-urlencode username=admin --data-urlencode "password=$ADMIN_PW" "$base/login")
check "login as the provisioned admin: $r" '[ "$r" = "303 $base/" ]'
r=$(http "$base/")
check "dashboard after login: $r" '[ "${r% *}" = 200 ]'
r=$(http "$base/metrics")
check "metrics: pbxgate_sip_registered 0" '[ "${r% *}" = 200 ] && grep -q "^pbxgate_sip_registered 0" "$WORK/body"'

# Still up past the service's watchdog interval (60 s), never restarted.
STABLE=${BOOT_STABLE_SECONDS:-75}
while [ $(( $(date +%s) - start - healthz_at )) -lt "$STABLE" ]; do sleep 5; done
check "healthz still answers ${STABLE} s later" 'curl -fsS --max-time 10 "$base/healthz" >/dev/null'
check "pbxgate started once (no watchdog kill, no restart)" '[ "$(con -c "pbxgate ready")" = 1 ] && ! con -qi "watchdog timeout"'
check "no failed units on the console" '! con -E "FAILED|Dependency failed|Failed to start|Failed with result"'

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
	kill "$QEMU_PID"; fail=1
fi
QEMU_PID=
keep_console

files=$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$BOOT" ::/)
receipt=$(MTOOLS_SKIP_CHECK=1 mtype -i "$BOOT" ::/pbxgate-provision.done.txt 2>/dev/null || true)
check "provisioning file removed from the boot partition" '! echo "$files" | grep -q pbxgate-provision.yaml'
check "provisioning receipt left, without secrets" 'echo "$receipt" | grep -q "admin password: set" && ! echo "$receipt" | grep -q -e "$SIP_PW" -e "$PIN" -e argon2'
# p2 (root) and p3 (data) from the partition table, which growpart changed.
part() { sfdisk -d "$WORK/disk.img" | awk -v n="disk.img$1 " 'index($0, n) { gsub(/[=,]/, " "); print $4, $6 }'; }
read -r p2start p2size <<EOF
$(part 2)
EOF
dd if="$WORK/disk.img" of="$WORK/root.ext4" bs=512 skip="$p2start" count="$p2size" conv=sparse status=none
rootcat() { debugfs -R "cat $1" "$WORK/root.ext4" 2>/dev/null; }
env_file=$(rootcat /etc/pbxgate/pbxgate.env)
check "SIM PIN and SIP password in /etc/pbxgate/pbxgate.env" 'echo "$env_file" | grep -q "PBXGATE_MODEM_PIN_EC25_1=.$PIN." && echo "$env_file" | grep -q "PBXGATE_SIP_PASSWORD=.$SIP_PW."'
check "/etc/pbxgate/pbxgate.env root:pbxgate 0640" 'debugfs -R "stat /etc/pbxgate/pbxgate.env" "$WORK/root.ext4" 2>/dev/null | grep -q "Mode:  0640"'
cfg=$(rootcat /etc/pbxgate/pbxgate.yaml)
check "host name set" '[ "$(rootcat /etc/hostname)" = gw-boottest ]'
check "region, SIP registrar in pbxgate.yaml, no secret there" 'echo "$cfg" | grep -q "default_country: AT" && echo "$cfg" | grep -q "registrar: \"*$REGISTRAR" && ! echo "$cfg" | grep -q "$SIP_PW"'
check "SSH still disabled (no preset or first boot enabled it)" '! debugfs -R "ls -l /etc/systemd/system/multi-user.target.wants" "$WORK/root.ext4" 2>/dev/null | grep -q "ssh\.service"'
check "machine ID committed" 'rootcat /etc/machine-id | grep -qE "^[0-9a-f]{32}$"'
check "root file system clean (read-only)" 'dumpe2fs -h "$WORK/root.ext4" 2>/dev/null | grep -q "^Filesystem state: *clean"'
read -r p3start p3size <<EOF
$(part 3)
EOF
total=$(( $(stat -c %s "$WORK/disk.img") / 512 ))
check "data partition grown to the end of the disk ($(( (p3start + p3size) * 512 / 1048576 )) of $(( total * 512 / 1048576 )) MiB)" '[ $(( p3start + p3size + 2048 )) -ge $total ]'
dd if="$WORK/disk.img" of="$WORK/data.ext4" bs=512 skip="$p3start" count="$p3size" conv=sparse status=none
fs_bytes=$(dumpe2fs -h "$WORK/data.ext4" 2>/dev/null | awk -F: '/^Block count/ { c = $2 } /^Block size/ { s = $2 } END { print c * s }')
check "data file system fills its partition ($(( fs_bytes / 1048576 )) of $(( p3size * 512 / 1048576 )) MiB)" '[ "$fs_bytes" -gt $(( p3size * 512 - 4 * 1048576 )) ]'
check "data file system clean" 'dumpe2fs -h "$WORK/data.ext4" 2>/dev/null | grep -q "^Filesystem state: *clean"'
uid=$(rootcat /etc/passwd | awk -F: '$1 == "pbxgate" { print $3 }')
store=$(debugfs -R "ls -l /lib/pbxgate" "$WORK/data.ext4" 2>/dev/null)
# debugfs ls -l: inode mode (type) uid gid size date time name
foreign=$(echo "$store" | awk -v uid="$uid" 'NF >= 9 && $NF != ".." && $4 != uid { print $NF " uid " $4 }')
check "store files owned by pbxgate (uid $uid)${foreign:+; not: $foreign}" '[ -n "$uid" ] && echo "$store" | grep -q MANIFEST && [ -z "$foreign" ]'
[ $fail = 0 ] && echo "boot test passed" || echo "boot test FAILED" >&2
exit $fail
