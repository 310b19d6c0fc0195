#!/usr/bin/env bash
# kubelab offline base image recipe.
#
# Usage: recipe.sh OUTDIR
#
# Builds a Debian 12 (bookworm) root filesystem with debootstrap from
# deb.debian.org, with the cloud kernel, cloud-init (NoCloud), Docker,
# BIRD 2, IPVS tools and an offline copy of network-manager's .debs, and
# writes into OUTDIR:
#   base.qcow2     ext4 filesystem image (no partition table, no bootloader)
#   vmlinuz        kernel for libvirt direct kernel boot
#   initrd.img     initramfs matching vmlinuz
#   manifest.json  what was built (written last: its presence marks success)
#
# Every input of the build lives in this file: the Rust side keys its image
# cache on sha256(recipe.sh). The only thing outside it is an optional
# download cache of .deb files (KUBELAB_DEB_CACHE, default
# /var/cache/kubelab/debs), which changes speed, never content selection.
#
# Needs root, debootstrap, mkfs.ext4 (e2fsprogs >= 1.43 for -d), qemu-img,
# jq, sha256sum. Progress lines go to stderr prefixed with "[recipe]".
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
IMAGE_SIZE=10G
SWAP_SIZE_MIB=1024
ROOT_LABEL=kubelab-root
CMDLINE="root=/dev/vda rw console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
REQUIRED_MODULES=(br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack ipip overlay)
PACKAGES=(
  linux-image-cloud-amd64 initramfs-tools systemd-sysv dbus
  cloud-init python3-cffi-backend netplan.io systemd-resolved
  openssh-server sudo iproute2 iputils-ping kmod procps util-linux
  iptables ipvsadm ipset conntrack ebtables ethtool socat
  docker.io containerd bird2 lsof curl ca-certificates
  e2fsprogs less vim-tiny gnupg apt-transport-https locales
)
# Downloaded but NOT installed: installed later, offline, by a fault kind.
OFFLINE_DEBS=(network-manager)
OFFLINE_DEB_DIR=/var/cache/kubelab-debs

log() { printf '[recipe] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 OUTDIR"
[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in debootstrap mkfs.ext4 qemu-img jq sha256sum chroot mount; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

OUTDIR=$1
RECIPE_SHA256=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
START=$(date +%s)
DEB_CACHE=${KUBELAB_DEB_CACHE:-/var/cache/kubelab/debs}
mkdir -p "$OUTDIR" "$DEB_CACHE/debootstrap" "$DEB_CACHE/apt"
WORK=$(mktemp -d /var/tmp/kubelab-recipe.XXXXXX)
ROOTFS=$WORK/rootfs
MOUNTS=()

cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

bind() { # bind SRC DST
  mkdir -p "$2"
  mount --bind "$1" "$2"
  MOUNTS+=("$2")
}
unbind() { # unbind DST (must be the most recent mount)
  umount "$1"
  unset 'MOUNTS[${#MOUNTS[@]}-1]'
}
in_root() { chroot "$ROOTFS" /usr/bin/env -i \
  PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  LANG=C.UTF-8 HOME=/root "$@"; }

log "recipe sha256 $RECIPE_SHA256, suite $SUITE, work dir $WORK"

# 1. Minimal system.
log "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include=systemd-sysv,apt-utils,ca-certificates \
  --cache-dir="$DEB_CACHE/debootstrap" "$SUITE" "$ROOTFS" "$MIRROR" >&2

cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
cat >"$ROOTFS/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# kubelab recipe: no daemons start inside the build chroot.
exit 101
EOF
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
rm -f "$ROOTFS/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cat >"$ROOTFS/etc/kernel-img.conf" <<'EOF'
do_symlinks = yes
link_in_boot = yes
EOF
# The initramfs only has to find the root filesystem on a virtio disk (ext4
# is built into the cloud kernel; virtio_pci and virtio_blk are modules).
# MODULES=most (the default) made a 15 MB initrd whose unpacking and udev
# coldplug (SCSI, ata_piix, ...) took ~14 s of a TCG boot (docs/boot.md).
mkdir -p "$ROOTFS/etc/initramfs-tools/conf.d"
echo 'MODULES=list' >"$ROOTFS/etc/initramfs-tools/conf.d/kubelab.conf"
printf '%s\n' virtio_pci virtio_blk >"$ROOTFS/etc/initramfs-tools/modules"

bind /proc "$ROOTFS/proc"
bind /sys "$ROOTFS/sys"
bind /dev "$ROOTFS/dev"
bind /dev/pts "$ROOTFS/dev/pts"
bind "$DEB_CACHE/apt" "$ROOTFS/var/cache/apt/archives"

# cloud-init's locale module runs update-locale LANG=en_US.UTF-8 (needs
# `locales`); pre-generating the locale saves a slow locale-gen on first boot.
echo 'en_US.UTF-8 UTF-8' >"$ROOTFS/etc/locale.gen"
echo 'LANG=en_US.UTF-8' >"$ROOTFS/etc/default/locale"

# 2. Packages.
log "apt-get install ${#PACKAGES[@]} packages"
in_root apt-get update -q >&2
in_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2
# systemd-resolved's postinst points /etc/resolv.conf at its stub; the chroot
# needs the host's resolver until the end of the build.
rm -f "$ROOTFS/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"

# 3. Offline copy of network-manager and whatever it needs beyond the image.
log "downloading offline debs: ${OFFLINE_DEBS[*]}"
mkdir -p "$ROOTFS$OFFLINE_DEB_DIR"
in_root apt-get install -y -q --no-install-recommends --download-only \
  -o Dir::Cache::archives="$OFFLINE_DEB_DIR" "${OFFLINE_DEBS[@]}" >&2
rm -rf "$ROOTFS$OFFLINE_DEB_DIR/partial" "$ROOTFS$OFFLINE_DEB_DIR/lock"
ls "$ROOTFS$OFFLINE_DEB_DIR"/*.deb >/dev/null || die "no offline debs downloaded"
cat >"$ROOTFS$OFFLINE_DEB_DIR/README" <<EOF
Offline packages for kubelab fault injection (no internet on lab nodes).
Contents: ${OFFLINE_DEBS[*]} and the dependencies the base image lacks,
downloaded by images/offline/recipe.sh (recipe sha256 $RECIPE_SHA256).
Install offline with:
  apt-get install -y --no-install-recommends $OFFLINE_DEB_DIR/*.deb
(do not add --no-download: apt 2.6 then fails with "Internal Error,
Pathname to install is not absolute")
or:
  dpkg -i $OFFLINE_DEB_DIR/*.deb
EOF

# 4. Configuration.
log "configuring the image"
cat >"$ROOTFS/etc/fstab" <<EOF
LABEL=$ROOT_LABEL / ext4 errors=remount-ro 0 1
/swap.img none swap sw 0 0
EOF

# Swap file like Ubuntu's /swap.img. mkfs.ext4 -d turns zero blocks into
# holes and swapon refuses files with holes, so the file is created on the
# guest's first boot by a oneshot ordered before the fstab swap unit.
cat >"$ROOTFS/usr/local/sbin/kubelab-mkswap" <<EOF
#!/bin/sh
# Creates /swap.img (${SWAP_SIZE_MIB} MiB) if missing; kubelab first boot.
set -e
[ -s /swap.img ] && exit 0
rm -f /swap.img.tmp
fallocate -l ${SWAP_SIZE_MIB}M /swap.img.tmp 2>/dev/null \\
  || dd if=/dev/zero of=/swap.img.tmp bs=1M count=${SWAP_SIZE_MIB} status=none
chmod 0600 /swap.img.tmp
mkswap /swap.img.tmp >/dev/null
mv /swap.img.tmp /swap.img
EOF
chmod 0755 "$ROOTFS/usr/local/sbin/kubelab-mkswap"
cat >"$ROOTFS/etc/systemd/system/kubelab-mkswap.service" <<'EOF'
[Unit]
Description=Create /swap.img (kubelab image, Ubuntu-style swap file)
DefaultDependencies=no
RequiresMountsFor=/
After=systemd-remount-fs.service
Before=swap.img.swap swap.target shutdown.target
Conflicts=shutdown.target
ConditionPathExists=!/swap.img

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kubelab-mkswap
RemainAfterExit=yes

[Install]
WantedBy=swap.img.swap
EOF
mkdir -p "$ROOTFS/etc/systemd/system/swap.img.swap.wants"
ln -sf /etc/systemd/system/kubelab-mkswap.service \
  "$ROOTFS/etc/systemd/system/swap.img.swap.wants/kubelab-mkswap.service"

# cloud-init: NoCloud only (no fallback to the empty None datasource: a seed
# that is not found fails loudly), netplan rendered by systemd-networkd, and
# only the modules kubelab's seed uses (harness/src/seed.rs SEED_MODULES_*;
# a unit test keeps the two lists equal). Measured in docs/boot.md.
cat >"$ROOTFS/etc/cloud/cloud.cfg.d/90_kubelab.cfg" <<'EOF'
# kubelab offline image
datasource_list: [ NoCloud ]
system_info:
  network:
    renderers: [ netplan ]
    activators: [ netplan ]
cloud_init_modules: [ bootcmd, write-files, set_hostname, update_hostname, update_etc_hosts, users-groups, ssh ]
cloud_config_modules: [ ]
cloud_final_modules: [ ]
EOF
# cloud-final is After=multi-user.target, so `cloud-init status` (kubelab's
# readiness) waited for docker and containerd to start. kubelab's seed runs
# no final-stage scripts: drop that one ordering (a full copy of the unit in
# /etc overrides the package's; drop-ins cannot remove an After=).
grep -qx 'After=multi-user.target' "$ROOTFS/lib/systemd/system/cloud-final.service" \
  || die "cloud-final.service is no longer After=multi-user.target: revisit the override"
sed '/^After=multi-user.target$/d' "$ROOTFS/lib/systemd/system/cloud-final.service" \
  >"$ROOTFS/etc/systemd/system/cloud-final.service"
# The lab's address is static and nothing at boot needs the network to be
# "online" (the seed is a local disk; kubelab waits for sshd from outside):
# no systemd-networkd-wait-online on the boot path.
in_root systemctl mask systemd-networkd-wait-online.service >&2
# The config stage runs no module (cloud_config_modules is empty) but cost a
# Python start (~3 s under TCG) on cloud-final's way. `cloud-init status`
# counts a stage that never started as not running and reports done once the
# final stage wrote result.json (cloudinit/cmd/status.py, 22.4).
in_root systemctl mask cloud-config.service >&2
rm -f "$ROOTFS/etc/network/interfaces.d/"* 2>/dev/null || true
mkdir -p "$ROOTFS/etc/netplan"
# cloud-init's netplan renderer runs `netplan generate` in cloud-init-local on
# every first boot: netplan's Python CLI, whose `generate` without arguments
# only runs the C generator (netplan.io 0.106 cli/commands/generate.py). That
# Python start took 4.6 s of cloud-init-local under TCG (docs/boot.md). A shim
# earlier on PATH runs the generator itself for exactly that call and hands
# every other call (apply, get, ...) to netplan's own CLI.
if ! grep -q "argv = \[utils.get_generator_path()\]" "$ROOTFS/usr/share/netplan/netplan/cli/commands/generate.py" \
  || ! grep -q "'/lib/netplan/generate'" "$ROOTFS/usr/share/netplan/netplan/cli/utils.py" \
  || ! in_root test -x /lib/netplan/generate; then
  die "netplan's generate command is no longer a plain run of /lib/netplan/generate: revisit the shim"
fi
cat >"$ROOTFS/usr/local/sbin/netplan" <<'EOF'
#!/bin/sh
# kubelab offline image: `netplan generate` is /lib/netplan/generate
# (without netplan's Python CLI start); everything else is netplan's CLI.
if [ "$#" -eq 1 ] && [ "$1" = generate ] && [ -z "${SNAP:-}" ]; then
  exec "${NETPLAN_GENERATE_PATH:-/lib/netplan/generate}"
fi
exec /usr/sbin/netplan "$@"
EOF
chmod 0755 "$ROOTFS/usr/local/sbin/netplan"
# Docker with the systemd cgroup driver, as the guide configures it.
mkdir -p "$ROOTFS/etc/docker"
cat >"$ROOTFS/etc/docker/daemon.json" <<'EOF'
{
  "exec-opts": ["native.cgroupdriver=systemd"]
}
EOF
in_root systemctl enable systemd-networkd.service systemd-resolved.service \
  ssh.service >&2
# Docker is installed but starts when provisioning's docker.install step
# enables it (`systemctl enable --now docker`), as in the guide: a first boot
# does not spend TCG CPU on dockerd and containerd.
in_root systemctl disable docker.service docker.socket containerd.service >&2
# The serial console is where boot progress and cloud-init output land.
in_root systemctl enable serial-getty@ttyS0.service >&2 || true
echo "kubelab" >"$ROOTFS/etc/hostname"
in_root locale-gen >&2

# Python bytecode for what the packages left uncompiled (netplan's CLI, which
# cloud-init runs on every first boot), so no clone compiles it at boot.
in_root python3 -m compileall -q -j 0 /usr/share/netplan /usr/lib/python3/dist-packages >&2

# 5. Kernel artefacts and module check.
KVER=$(basename "$(ls -d "$ROOTFS"/lib/modules/*)")
log "kernel $KVER"
in_root update-initramfs -u -k "$KVER" >&2
INITRD_FILES=$(in_root lsinitramfs "/boot/initrd.img-$KVER")
for m in virtio_pci virtio_blk; do
  grep -q "/$m\.ko" <<<"$INITRD_FILES" \
    || die "initramfs lacks $m: the guest could not find its root disk"
done
MODULE_LINES=()
for m in "${REQUIRED_MODULES[@]}"; do
  path=$(in_root modinfo -k "$KVER" -F filename "$m" 2>/dev/null) \
    || die "kernel module $m missing from kernel $KVER"
  MODULE_LINES+=("$m"$'\t'"$path")
done
MODULES_JSON=$(printf '%s\n' "${MODULE_LINES[@]}" \
  | jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {name: .[0], path: .[1]})')
cp "$ROOTFS/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$WORK/initrd.img"

# shellcheck disable=SC2016 # dpkg-query format, not shell
PACKAGES_JSON=$(in_root dpkg-query -W -f '${Package}\t${Version}\n' \
  | jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {name: .[0], version: .[1]})')
OFFLINE_JSON=$(for f in "$ROOTFS$OFFLINE_DEB_DIR"/*.deb; do basename "$f"; done \
  | jq -R -s 'split("\n") | map(select(length > 0))')

# 6. Generalise.
log "generalising (machine-id, host keys, caches, cloud-init state)"
unbind "$ROOTFS/var/cache/apt/archives"
in_root apt-get clean >&2
rm -rf "$ROOTFS"/var/lib/apt/lists/*
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
# Prove the offline debs install with no network and no apt lists, as on a node.
in_root sh -c "apt-get install -s -q --no-install-recommends $OFFLINE_DEB_DIR/*.deb" >&2 \
  || die "offline debs do not resolve without apt lists"
in_root cloud-init clean --logs >&2
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
rm -f "$ROOTFS/etc/resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
rm -rf "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/var/log/*.log \
  "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/root/.bash_history
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}"; done
MOUNTS=()

# 7. Filesystem image.
log "mkfs.ext4 -d ($IMAGE_SIZE sparse) and qemu-img convert"
truncate -s "$IMAGE_SIZE" "$WORK/root.ext4"
mkfs.ext4 -q -F -L "$ROOT_LABEL" -d "$ROOTFS" "$WORK/root.ext4" >&2
qemu-img convert -f raw -O qcow2 "$WORK/root.ext4" "$WORK/base.qcow2"
VIRTUAL_SIZE=$(qemu-img info --output=json "$WORK/base.qcow2" | jq '."virtual-size"')

for f in base.qcow2 vmlinuz initrd.img; do
  mv -f "$WORK/$f" "$OUTDIR/$f"
done
END=$(date +%s)
jq -n \
  --arg recipe_sha256 "$RECIPE_SHA256" \
  --arg suite "$SUITE" \
  --arg mirror "$MIRROR" \
  --arg kernel "$KVER" \
  --arg cmdline "$CMDLINE" \
  --arg root_label "$ROOT_LABEL" \
  --arg offline_deb_dir "$OFFLINE_DEB_DIR" \
  --argjson swap_size_mib "$SWAP_SIZE_MIB" \
  --argjson virtual_size "$VIRTUAL_SIZE" \
  --argjson build_seconds "$((END - START))" \
  --argjson modules "$MODULES_JSON" \
  --argjson packages "$PACKAGES_JSON" \
  --argjson offline_debs "$OFFLINE_JSON" \
  --arg built_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{recipe_sha256: $recipe_sha256, suite: $suite, mirror: $mirror,
    kernel_version: $kernel, cmdline: $cmdline, root_label: $root_label,
    disk_bus: "virtio", files: {disk: "base.qcow2", kernel: "vmlinuz", initrd: "initrd.img"},
    image_virtual_size: $virtual_size, swap: {file: "/swap.img", size_mib: $swap_size_mib},
    kernel_modules: $modules,
    offline_debs: {dir: $offline_deb_dir, files: $offline_debs},
    packages: $packages, build_seconds: $build_seconds, built_at: $built_at}' \
  >"$OUTDIR/manifest.json.tmp"
mv -f "$OUTDIR/manifest.json.tmp" "$OUTDIR/manifest.json"
log "done in $((END - START))s: $OUTDIR"
