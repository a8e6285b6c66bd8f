#!/bin/sh
# mmdebstrap essential hook for build.sh: under qemu-user every
# update-initramfs run takes minutes and package installation triggers
# several; divert it to a no-op until customize.sh builds the initramfs once.
set -eu
R=$1
chroot "$R" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
printf '#!/bin/sh\necho "update-initramfs: deferred to the end of the image build"\n' > "$R/usr/sbin/update-initramfs"
chmod 755 "$R/usr/sbin/update-initramfs"
