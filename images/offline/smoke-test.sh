#!/usr/bin/env bash
# Boots one guest from the offline base image inside the kubelab network
# namespace, measures time to SSH, checks the guest, and tears it all down.
#
# Usage: images/offline/smoke-test.sh IMAGE_DIR
#   IMAGE_DIR holds base.qcow2, vmlinuz, initrd.img, manifest.json
#   (e.g. /var/cache/kubelab/images/offline-<hash>).
# Needs `ci/labenv start` first. Uses testdata/{seed-example,*.xml} verbatim
# apart from the @IMAGE_DIR@ / @RUN_DIR@ path placeholders.
# Set KEEP=1 to leave the guest running for inspection.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABENV=$HERE/../../ci/labenv
TESTDATA=$HERE/testdata
IMAGE_DIR=$(cd "${1:?usage: $0 IMAGE_DIR}" && pwd)
RUN_DIR=${RUN_DIR:-/var/tmp/kubelab-smoke}
DOMAIN=kubelab-smoke-node0
NETWORK=kubelab-smoke
IP=192.168.1.134
URI=qemu:///system
TIMEOUT=${BOOT_TIMEOUT:-600}

log() { printf '[smoke] %s\n' "$*" >&2; }
fail() {
  log "FAIL: $*"
  FAILED=1
}
FAILED=0
expect_eq() { # expect_eq WHAT GOT WANT
  if [[ $2 == "$3" ]]; then log "ok   $1 = $2"; else fail "$1: got '$2', want '$3'"; fi
}
nsx() { "$LABENV" exec -- "$@"; }
vsh() { nsx virsh -c "$URI" "$@"; }

teardown() {
  [[ ${KEEP:-0} == 1 ]] && {
    log "KEEP=1: leaving $DOMAIN running"
    return
  }
  log "teardown"
  cp "$RUN_DIR/node0-serial.log" "${SERIAL_COPY:-/var/tmp/kubelab-smoke-serial.log}" 2>/dev/null || true
  vsh destroy "$DOMAIN" >/dev/null 2>&1 || true
  vsh undefine "$DOMAIN" >/dev/null 2>&1 || true
  vsh net-destroy "$NETWORK" >/dev/null 2>&1 || true
  vsh net-undefine "$NETWORK" >/dev/null 2>&1 || true
  rm -rf "$RUN_DIR"
}
trap teardown EXIT

render() { sed -e "s|@IMAGE_DIR@|$IMAGE_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" "$1"; }

rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/seed"
chmod 0755 "$RUN_DIR"
cp "$TESTDATA"/seed-example/{meta-data,user-data,network-config} "$RUN_DIR/seed/"
xorriso -as mkisofs -quiet -o "$RUN_DIR/node0-seed.iso" -V cidata -J -r "$RUN_DIR/seed" 2>/dev/null
qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE_DIR/base.qcow2" "$RUN_DIR/node0.qcow2"
install -m 0600 "$TESTDATA/keys/test_user_ed25519" "$RUN_DIR/id_ed25519"
echo "$IP $(cut -d' ' -f1-2 "$TESTDATA/keys/test_host_ed25519.pub")" >"$RUN_DIR/known_hosts"
render "$TESTDATA/network-example.xml" >"$RUN_DIR/network.xml"
render "$TESTDATA/domain-example.xml" >"$RUN_DIR/domain.xml"

vsh net-define "$RUN_DIR/network.xml" >/dev/null
vsh net-start "$NETWORK" >/dev/null
vsh define "$RUN_DIR/domain.xml" >/dev/null
T0=$(date +%s.%N)
vsh start "$DOMAIN" >/dev/null
log "domain started; waiting for ssh on $IP (timeout ${TIMEOUT}s)"

SSH=(ssh -i "$RUN_DIR/id_ed25519" -o UserKnownHostsFile="$RUN_DIR/known_hosts"
  -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -o BatchMode=yes
  -o LogLevel=ERROR "speit@$IP")
until nsx "${SSH[@]}" true 2>/dev/null; do
  if (($(date +%s) - ${T0%.*} > TIMEOUT)); then
    log "no ssh after ${TIMEOUT}s; serial log tail:"
    tail -40 "$RUN_DIR/node0-serial.log" >&2 || true
    exit 1
  fi
  sleep 2
done
T1=$(date +%s.%N)
BOOT_TO_SSH=$(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.1f", b - a}')
log "boot-to-ssh: ${BOOT_TO_SSH}s (host key pinned: StrictHostKeyChecking=yes)"

# From here on a failing check is reported, not fatal.
set +e +o pipefail
g() { nsx "${SSH[@]}" "$@"; }
CI_STATUS=$(g cloud-init status --wait 2>/dev/null | tail -1)
T2=$(date +%s.%N)
BOOT_TO_CI=$(awk -v a="$T0" -v b="$T2" 'BEGIN {printf "%.1f", b - a}')
log "boot-to-cloud-init-done: ${BOOT_TO_CI}s"
expect_eq cloud-init-status "$CI_STATUS" "status: done"
expect_eq cloud-init-schema "$(g sudo cloud-init schema --system >/dev/null 2>&1 && echo valid || echo invalid)" valid

expect_eq hostname "$(g hostname)" ICE-k8s-machines-node0
expect_eq ip "$(g ip -4 -o addr show dev eth0 | awk '{print $4}')" "$IP/24"
WANT_FP=$(ssh-keygen -lf "$TESTDATA/keys/test_host_ed25519.pub" | awk '{print $2}')
GOT_FP=$(g sudo ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')
expect_eq host-key-fingerprint "$GOT_FP" "$WANT_FP"
expect_eq host-key-count "$(g 'sudo sh -c "ls /etc/ssh/ssh_host_*_key" | wc -l')" 1
MID=$(g cat /etc/machine-id)
if [[ $MID =~ ^[0-9a-f]{32}$ ]]; then log "ok   machine-id $MID"; else fail "machine-id '$MID'"; fi
DOM_UUID=$(vsh domuuid "$DOMAIN" | sed '/^$/d')
expect_eq product_uuid "$(g sudo cat /sys/class/dmi/id/product_uuid)" "$DOM_UUID"
expect_eq sudo-nopasswd "$(g sudo -n id -u)" 0
expect_eq hosts-node2 "$(g getent hosts ICE-k8s-machines-node2 | awk '{print $1}')" 192.168.1.136
SWAP=$(g /sbin/swapon --show --noheadings)
if [[ $SWAP == /swap.img* ]]; then log "ok   swap: $SWAP"; else fail "swap: '$SWAP'"; fi
expect_eq fstab-swap "$(g "grep -c '^/swap.img none swap sw 0 0\$' /etc/fstab")" 1
CG=$(g 'sudo docker info 2>/dev/null | grep -i cgroup' | tr -s ' ' | paste -sd';')
if [[ $CG == *"Cgroup Driver: systemd"* ]]; then log "ok   docker: $CG"; else fail "docker cgroup: '$CG'"; fi
BIRD=$(g 'sudo birdc show status 2>&1 | head -3' | paste -sd';')
if [[ $BIRD == *BIRD* ]]; then log "ok   bird: $BIRD"; else fail "birdc: '$BIRD'"; fi
if g 'sudo modprobe -a br_netfilter ipip ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack && lsmod | grep -c -E "^(br_netfilter|ipip|ip_vs) "' >/dev/null; then
  log "ok   modprobe: $(g lsmod | cut -d' ' -f1 | grep -E '^(br_netfilter|ipip|ip_vs|nf_conntrack)$' | sort | paste -sd,)"
else
  fail "modprobe"
fi
NM=$(g 'sudo apt-get install -s --no-install-recommends /var/cache/kubelab-debs/*.deb 2>&1 | grep -c "^Inst "' || true)
if ((NM > 0)); then log "ok   offline network-manager debs resolve ($NM to install)"; else fail "offline debs"; fi
# Really install it, offline, but keep NetworkManager from starting (it
# would take eth0 over: that is the fault kind, not this test).
NMV=$(g sudo bash -s <<'EOF'
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  /var/cache/kubelab-debs/*.deb >/dev/null 2>&1
rc=$?
rm -f /usr/sbin/policy-rc.d
[ $rc -eq 0 ] && dpkg-query -W -f '${Status} ${Version}' network-manager
EOF
)
if [[ $NMV == "install ok installed"* ]]; then log "ok   offline install: network-manager $NMV"; else fail "offline install: '$NMV'"; fi
log "kernel: $(g uname -r); disk: $(g df -h / | awk 'NR==2 {print $2" "$3}')"

teardown
trap - EXIT
# Other labs may share this libvirtd: look for what this test created only.
expect_eq domain-left "$(vsh list --all --name | grep -cx "$DOMAIN")" 0
expect_eq network-left "$(vsh net-list --all --name | grep -cx "$NETWORK")" 0
expect_eq bridge-left "$(nsx ip -o link show | grep -c klsmoke0)" 0
expect_eq run-dir-left "$(test -e "$RUN_DIR" && echo present || echo absent)" absent
echo "boot_to_ssh_seconds=$BOOT_TO_SSH boot_to_cloud_init_done_seconds=$BOOT_TO_CI"
((FAILED == 0)) || {
  log "some checks failed"
  exit 1
}
log "all checks passed"
