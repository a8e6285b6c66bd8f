#!/bin/sh
# mmdebstrap customize hook for build.sh: $1 is the arm64 root file system
# (commands inside it run through qemu-user). Settings from build.sh come in
# PBXGATE_* environment variables.
set -eu
R=$1
in_root() { chroot "$R" "$@"; }

echo "-- initramfs (once; deferred by defer-initramfs.sh)"
rm -f "$R/usr/sbin/update-initramfs"
in_root dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
in_root update-initramfs -c -k all

echo "-- pbxgate $PBXGATE_VERSION"
cp "$PBXGATE_DEB" "$R/tmp/pbxgate.deb"
in_root dpkg -i /tmp/pbxgate.deb
rm -f "$R/tmp/pbxgate.deb"
# The portal on every interface at first boot (http://pbxgate.local:8080/).
# netscope: sed replaces 127.0.0.1 with group 1 and 0.0.0.0 (the regex sees \10.0.0.0)
sed -i 's|^\(  listen: \)127\.0\.0\.1:8080|\10.0.0.0:8080|' "$R/etc/pbxgate/pbxgate.yaml"
grep -q '^  listen: 0.0.0.0:8080' "$R/etc/pbxgate/pbxgate.yaml" || { echo "customize: could not set http.listen" >&2; exit 1; }
if [ -n "${PBXGATE_UPDATE_KEY:-}" ]; then
	install -m 0644 "$PBXGATE_UPDATE_KEY" "$R/etc/pbxgate/update-keys.pem"
else
	echo "customize: WARNING: no --update-key; signed updates are refused until /etc/pbxgate/update-keys.pem exists" >&2
fi

# A/B slots: slot a holds the packaged binary, the service runs current/.
# The drop-in is exactly update.DropIn's text (a test compares them), so
# `pbxgate update` never has to write the read-only /etc.
S=$R/var/lib/pbxgate-system
install -d -m 0755 "$S/a"
install -m 0755 "$R/usr/bin/pbxgate" "$S/a/pbxgate"
cat > "$S/a/manifest.json" <<JSON
{
  "format": 1,
  "product": "pbxgate",
  "version": "v${PBXGATE_VERSION}",
  "architecture": "arm64",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "payloads": null
}
JSON
ln -sfn a "$S/current"
install -d "$R/etc/systemd/system/pbxgate.service.d"
cat > "$R/etc/systemd/system/pbxgate.service.d/50-ab-slot.conf" <<'UNIT'
# Written by pbxgate update: run the binary of the current A/B slot.
[Service]
ExecStartPre=
ExecStartPre=/var/lib/pbxgate-system/current/pbxgate config check -c /etc/pbxgate/pbxgate.yaml
ExecStart=
ExecStart=/var/lib/pbxgate-system/current/pbxgate run -c /etc/pbxgate/pbxgate.yaml
UNIT

echo "-- boot firmware"
cat > "$R/etc/default/raspi-firmware" <<'CFG'
ROOTPART=LABEL=pbxgate-root
CONSOLES="ttyS1,115200 tty0"
CFG
# Run the kernel hook again now that it knows the root partition (it ran
# when the kernel was installed, with the build host's view of /); it only
# acts when told it is a configure.
for k in "$R"/lib/modules/*; do
	in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware "$(basename "$k")"
done
grep -q 'root=LABEL=pbxgate-root' "$R/boot/firmware/cmdline.txt" || { echo "customize: cmdline.txt lacks the root label" >&2; exit 1; }

echo "-- file systems: read-only root, /var on the data partition"
cat > "$R/etc/fstab" <<'FSTAB'
# Read-mostly appliance: / is read-only; /var (store, backups, A/B pbxgate
# slots) is the data partition, which survives pbxgate updates.
LABEL=pbxgate-root  /               ext4   ro,noatime,errors=remount-ro      0 1
LABEL=pbxgate-data  /var            ext4   noatime,nodev,nosuid              0 2
LABEL=PBXBOOT       /boot/firmware  vfat   noatime,umask=0077,nofail         0 2
tmpfs               /tmp            tmpfs  nodev,nosuid,size=64M             0 0
FSTAB
# Each device gets its own machine ID at first boot (committed below;
# build.sh writes "uninitialized" again after mmdebstrap empties the file).
echo uninitialized > "$R/etc/machine-id"
# The first boot must never wait for input on a console nobody watches
# (it is skipped anyway while / is read-only).
in_root systemctl mask systemd-firstboot.service
rm -f "$R/var/lib/dbus/machine-id"
install -d "$R/etc/systemd/journald.conf.d"
cat > "$R/etc/systemd/journald.conf.d/pbxgate.conf" <<'CFG'
# Logs in RAM: spare the SD card.
[Journal]
Storage=volatile
RuntimeMaxUse=32M
CFG

# Provisioning writes /etc: root is writable only while it runs.
install -d "$R/etc/systemd/system/pbxgate-provision.service.d"
# After pbxgate-firstboot: both remount / and the one finishing first must
# not turn / read-only under the other.
cat > "$R/etc/systemd/system/pbxgate-provision.service.d/10-remount.conf" <<'UNIT'
[Unit]
After=pbxgate-firstboot.service

[Service]
ExecStartPre=/bin/mount -o remount,rw /
ExecStopPost=-/bin/mount -o remount,ro /
UNIT
cat > "$R/etc/systemd/system/pbxgate-firstboot.service" <<'UNIT'
[Unit]
Description=pbxgate appliance first boot: keep this device's machine ID, grow the data partition
ConditionFirstBoot=yes
After=var.mount local-fs.target
Before=pbxgate.service

[Service]
Type=oneshot
ExecStart=/bin/mount -o remount,rw /
ExecStart=-/usr/bin/systemd-machine-id-setup --commit
ExecStart=/usr/local/sbin/pbxgate-grow-data
ExecStopPost=-/bin/mount -o remount,ro /

[Install]
WantedBy=multi-user.target
UNIT
# A script, not sh -c in the unit: systemd would expand $dev itself.
cat > "$R/usr/local/sbin/pbxgate-grow-data" <<'SH'
#!/bin/sh
# Grow the /var (data) partition and its file system to the end of the card.
set -eu
dev=$(findmnt -no SOURCE /var)
disk=/dev/$(lsblk -no PKNAME "$dev")
part=$(cat "/sys/class/block/$(basename "$dev")/partition")
# growpart exits 1 when there is nothing to grow.
growpart "$disk" "$part" || [ $? -eq 1 ]
resize2fs "$dev"
SH
chmod 755 "$R/usr/local/sbin/pbxgate-grow-data"
in_root systemctl enable pbxgate-firstboot.service

echo "-- network: DHCP plus a fixed fallback address"
echo "$PBXGATE_HOSTNAME" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$PBXGATE_HOSTNAME" > "$R/etc/hosts"
cat > "$R/etc/systemd/network/20-wired.network" <<NET
# DHCP on the wired port; $PBXGATE_FALLBACK_ADDRESS is always there too, so
# an installer's laptop on a direct cable reaches http://${PBXGATE_FALLBACK_ADDRESS%/*}:8080/
# when there is no DHCP server.
[Match]
Name=eth0 end* enx*

[Network]
DHCP=ipv4
Address=$PBXGATE_FALLBACK_ADDRESS
MulticastDNS=no
NET
in_root systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service avahi-daemon.service
# Without a DHCP server (installer's laptop on a direct cable) the link stays
# "configuring" and wait-online would hold network-online.target, and
# pbxgate with it, for its 2-minute timeout and then fail. Wait 30 s at most
# (DHCP on a LAN takes seconds), and a timeout is no failure: the fallback
# address is up anyway.
install -d "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$R/etc/systemd/system/systemd-networkd-wait-online.service.d/50-pbxgate.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/lib/systemd/systemd-networkd-wait-online --timeout=30
UNIT
ln -sfn /run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"

echo "-- ssh off by default"
in_root systemctl disable ssh.service 2>/dev/null || true
in_root systemctl mask ssh.socket 2>/dev/null || true
# Host keys made here would be shared by every device: none until an admin
# enables SSH (docs/appliance.md).
rm -f "$R"/etc/ssh/ssh_host_*
in_root passwd -l root >/dev/null

in_root apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin
