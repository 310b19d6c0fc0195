//! Host-level steps (both profiles): hosts file, swap, br_netfilter, sysctl, firewall, IPVS
//! modules, NetworkManager, Docker and its cgroup driver.

use crate::config::Profile;

use super::common::{Ctx, Scripts, ere, fill, sq};

/// `host.hosts-file`: the guide's /etc/hosts block first (127.0.1.1 = this node), the rest of the
/// file kept minus lines the block redefines and blank lines, so a re-run changes nothing.
pub(crate) fn hosts_file(ctx: &Ctx<'_>) -> Scripts {
    let width = 16;
    let mut block = String::from("127.0.0.1       localhost\n127.0.1.1       ${KUBELAB_NODE:?}\n\n");
    for n in ctx.nodes {
        block.push_str(&format!("{:<width$}{}\n", n.ip.to_string(), n.name));
    }
    let ips: Vec<String> = ["127.0.0.1".to_string(), "127.0.1.1".to_string()]
        .into_iter()
        .chain(ctx.nodes.iter().map(|n| n.ip.to_string()))
        .map(|ip| ere(&ip))
        .collect();
    let names: Vec<String> = ctx.nodes.iter().map(|n| n.name.clone()).collect();
    let func = fill(
        r#"want_hosts() {
  cat <<EOF
@BLOCK@EOF
  local rest
  rest=$(grep -v -i -E -e '^[[:space:]]*$' -e '^[[:space:]]*(@IPS@)[[:space:]]' -e '[[:space:]](@NAMES@)([[:space:]]|$)' /etc/hosts || true)
  if [ -n "$rest" ]; then
    printf '\n%s\n' "$rest"
  fi
}
"#,
        &[("BLOCK", &block), ("IPS", &ips.join("|")), ("NAMES", &names.join("|"))],
    );
    let check = format!(
        "{func}if [ \"$(want_hosts)\" != \"$(cat /etc/hosts)\" ]; then\n  echo '/etc/hosts does not start with the guide block (or repeats its names)'\n  exit 1\nfi\n"
    );
    let action = format!(
        "{func}tmp=$(mktemp)\nwant_hosts > \"$tmp\"\n# write in place (keeps the inode; /etc/hosts may be bind-mounted)\ncat \"$tmp\" > /etc/hosts\nrm -f \"$tmp\"\n"
    );
    Scripts::new(check, action)
}

const FSTAB_SWAP: &str = r"^[[:space:]]*[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]";

/// `host.swap-off`: swap off now, swap lines commented out in /etc/fstab.
pub(crate) fn swap_off(_: &Ctx<'_>) -> Scripts {
    let check = fill(
        r#"if [ -n "$(swapon --noheadings --show 2>/dev/null)" ]; then
  echo 'swap is active:'
  swapon --show
  exit 1
fi
if [ -f /etc/fstab ] && grep -Eq '@RE@' /etc/fstab; then
  echo 'an active swap line remains in /etc/fstab'
  exit 1
fi
"#,
        &[("RE", FSTAB_SWAP)],
    );
    let action = fill(
        r#"swapoff -a
if [ -f /etc/fstab ]; then
  sed -i -E 's|(@RE@.*)$|# \1  # kubelab: swap off (guide: comment out swap in /etc/fstab)|' /etc/fstab
fi
"#,
        &[("RE", FSTAB_SWAP)],
    );
    Scripts::new(check, action)
}

/// `host.br-netfilter`: loaded now and at boot (/etc/modules-load.d/k8s.conf).
pub(crate) fn br_netfilter(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        r#"[ -d /sys/module/br_netfilter ] || { echo 'br_netfilter is not loaded'; exit 1; }
grep -qsx br_netfilter /etc/modules-load.d/k8s.conf || { echo 'br_netfilter is not in /etc/modules-load.d/k8s.conf'; exit 1; }
"#,
        r#"modprobe br_netfilter
mkdir -p /etc/modules-load.d
if ! grep -qsx br_netfilter /etc/modules-load.d/k8s.conf; then
  echo br_netfilter >> /etc/modules-load.d/k8s.conf
fi
"#,
    )
}

/// `host.sysctl`: bridge-nf-call-iptables and ip_forward persisted and applied.
pub(crate) fn sysctl(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        r#"f=/etc/sysctl.d/k8s.conf
grep -qsx 'net.bridge.bridge-nf-call-iptables = 1' "$f" || { echo "$f lacks net.bridge.bridge-nf-call-iptables = 1"; exit 1; }
grep -qsx 'net.ipv4.ip_forward = 1' "$f" || { echo "$f lacks net.ipv4.ip_forward = 1"; exit 1; }
[ "$(sysctl -n net.bridge.bridge-nf-call-iptables)" = 1 ] || { echo 'net.bridge.bridge-nf-call-iptables is not 1'; exit 1; }
[ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || { echo 'net.ipv4.ip_forward is not 1'; exit 1; }
"#,
        r#"mkdir -p /etc/sysctl.d
cat > /etc/sysctl.d/k8s.conf <<'EOF'
# kubelab host.sysctl (kubeadm prerequisites; needs br_netfilter)
net.bridge.bridge-nf-call-iptables = 1
net.ipv4.ip_forward = 1
EOF
sysctl -p /etc/sysctl.d/k8s.conf
"#,
    )
}

/// `host.firewall-off`: `ufw disable` when ufw exists; iptables itself stays (the guide).
pub(crate) fn firewall_off(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        r#"if ! command -v ufw >/dev/null 2>&1; then
  echo 'note: ufw is not installed; no host firewall to disable (iptables stays, the guide needs it)'
  exit 0
fi
status=$(ufw status)
grep -q '^Status: inactive' <<<"$status" || { echo "ufw is active"; exit 1; }
"#,
        "ufw disable\n",
    )
}

const IPVS_MODULES: &str = "ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack";

/// `host.ipvs-modules`: modules loaded and listed in /etc/modules-load.d/ipvs.conf (the guide
/// uses /etc/rc.local); the guide profile also installs ipvsadm and ipset.
pub(crate) fn ipvs_modules(ctx: &Ctx<'_>) -> Scripts {
    let common_check = fill(
        r#"for m in @MODS@; do
  [ -d "/sys/module/$m" ] || { echo "kernel module $m is not loaded"; exit 1; }
  grep -qsx "$m" /etc/modules-load.d/ipvs.conf || { echo "$m is not in /etc/modules-load.d/ipvs.conf"; exit 1; }
done
"#,
        &[("MODS", IPVS_MODULES)],
    );
    let common_action = fill(
        r#"mkdir -p /etc/modules-load.d
: > /etc/modules-load.d/ipvs.conf
for m in @MODS@; do
  modprobe -- "$m"
  echo "$m" >> /etc/modules-load.d/ipvs.conf
done
"#,
        &[("MODS", IPVS_MODULES)],
    );
    match ctx.cfg.profile {
        Profile::Guide => Scripts::new(
            format!(
                "{common_check}command -v ipvsadm >/dev/null 2>&1 || {{ echo 'ipvsadm is not installed'; exit 1; }}\ncommand -v ipset >/dev/null 2>&1 || {{ echo 'ipset is not installed'; exit 1; }}\n"
            ),
            format!("{common_action}apt-get update\napt-get install -y ipvsadm ipset\n"),
        ),
        Profile::Offline => Scripts::new(
            format!(
                "{common_check}if ! command -v ipvsadm >/dev/null 2>&1 || ! command -v ipset >/dev/null 2>&1; then\n  echo 'note: ipvsadm/ipset are not in the offline image (the guide profile installs them)'\nfi\n"
            ),
            common_action,
        ),
    }
}

/// `host.network-manager`: the guide's `apt-get remove network-manager` when installed.
pub(crate) fn network_manager(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        r#"# shellcheck disable=SC2016
status=$(dpkg-query -W -f='${Status}' network-manager 2>/dev/null || true)
if [ "$status" = 'install ok installed' ]; then
  echo 'network-manager is installed'
  exit 1
fi
echo 'note: network-manager is not installed; nothing to remove'
"#,
        "apt-get remove -y network-manager\n",
    )
}

/// `docker.install`: offline = docker.io from the image, nothing downloaded; guide = docker-ce
/// 20.10.24 from download.docker.com focal, held (instead of get.docker.com).
pub(crate) fn docker_install(ctx: &Ctx<'_>) -> Scripts {
    let user = sq(&ctx.cfg.user);
    let user_check = fill(
        "id -nG @USER@ | tr ' ' '\\n' | grep -qx docker || { echo \"user @USER@ is not in group docker\"; exit 1; }\n",
        &[("USER", &user)],
    );
    // Docker is not on the boot path (sshd and cloud-init do not wait for it): after a reboot
    // it may still be starting when this check runs, so wait for the start job (bounded).
    let running = "for _ in $(seq 120); do [ \"$(systemctl is-active docker)\" = activating ] || break; sleep 1; done\nsystemctl is-active --quiet docker || { echo 'docker is not running'; exit 1; }\ndocker info >/dev/null || { echo 'docker info fails'; exit 1; }\n";
    match ctx.cfg.profile {
        Profile::Offline => Scripts::new(
            format!(
                "# shellcheck disable=SC2016\nstatus=$(dpkg-query -W -f='${{Status}}' docker.io 2>/dev/null || true)\n[ \"$status\" = 'install ok installed' ] || {{ echo 'docker.io is not installed'; exit 1; }}\n{running}{user_check}"
            ),
            fill(
                r#"if ! command -v dockerd >/dev/null 2>&1; then
  echo 'docker.io is not installed and the offline profile downloads nothing: rebuild the offline image (kubelab image build offline)' >&2
  exit 1
fi
systemctl enable --now docker
usermod -aG docker @USER@
"#,
                &[("USER", &user)],
            ),
        ),
        Profile::Guide => {
            let version = ctx.pins.map(|p| p.docker_apt_version.clone()).unwrap_or_default();
            let v = sq(&version);
            Scripts::new(
                fill(
                    r#"# shellcheck disable=SC2016
for p in docker-ce docker-ce-cli; do
  [ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)" = @V@ ] || { echo "$p is not @VERSION@"; exit 1; }
done
holds=$(apt-mark showhold)
for p in docker-ce docker-ce-cli containerd.io; do
  grep -qx "$p" <<<"$holds" || { echo "$p is not held"; exit 1; }
done
"#,
                    &[("V", &v), ("VERSION", &version)],
                ) + running
                    + &user_check,
                fill(
                    r#"apt-get update
apt-get install -y ca-certificates curl gnupg
install -m 0755 -d /etc/apt/keyrings
curl -fsSL --retry 5 https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
chmod a+r /etc/apt/keyrings/docker.asc
echo 'deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu focal stable' > /etc/apt/sources.list.d/docker.list
apt-get update
containerd=$(apt-cache madison containerd.io | awk '$3 ~ /^1\.6\./ {print $3; exit}')
[ -n "$containerd" ] || { echo 'no containerd.io 1.6.x in the download.docker.com focal repository' >&2; exit 1; }
apt-mark unhold docker-ce docker-ce-cli containerd.io >/dev/null 2>&1 || true
apt-get install -y --allow-downgrades docker-ce=@V@ docker-ce-cli=@V@ "containerd.io=$containerd"
apt-mark hold docker-ce docker-ce-cli containerd.io
systemctl enable --now docker
usermod -aG docker @USER@
"#,
                    &[("V", &v), ("USER", &user)],
                ),
            )
        }
    }
}

/// `docker.cgroup-systemd`: merge `"exec-opts": ["native.cgroupdriver=systemd"]` into
/// /etc/docker/daemon.json (other keys kept), restart docker.
pub(crate) fn docker_cgroup(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        r#"grep -qs 'native.cgroupdriver=systemd' /etc/docker/daemon.json || { echo 'daemon.json lacks native.cgroupdriver=systemd'; exit 1; }
driver=$(docker info --format '{{.CgroupDriver}}')
[ "$driver" = systemd ] || { echo "docker cgroup driver is $driver"; exit 1; }
"#,
        r#"mkdir -p /etc/docker
f=/etc/docker/daemon.json
if [ ! -s "$f" ]; then
  printf '{\n  "exec-opts": ["native.cgroupdriver=systemd"]\n}\n' > "$f"
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$f" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as fh:
    conf = json.load(fh)
opts = [o for o in conf.get("exec-opts", []) if not o.startswith("native.cgroupdriver=")]
conf["exec-opts"] = opts + ["native.cgroupdriver=systemd"]
with open(path + ".kubelab", "w") as fh:
    json.dump(conf, fh, indent=2)
    fh.write("\n")
PY
  mv "$f.kubelab" "$f"
elif command -v jq >/dev/null 2>&1; then
  jq '."exec-opts" = ([(."exec-opts" // [])[] | select(startswith("native.cgroupdriver=") | not)] + ["native.cgroupdriver=systemd"])' "$f" > "$f.kubelab"
  mv "$f.kubelab" "$f"
else
  echo "cannot merge the existing $f without python3 or jq; add \"exec-opts\": [\"native.cgroupdriver=systemd\"] to it by hand" >&2
  exit 1
fi
systemctl restart docker
"#,
    )
}

/// `docker.outside-registry` (offline): merge the lab outside's registry
/// (`lab::outside::registry()`, plain HTTP) into `insecure-registries` of
/// /etc/docker/daemon.json (other keys kept), restart docker. The check reads Docker's own view:
/// the registry's index config with `Secure` false.
pub(crate) fn docker_outside_registry(_: &Ctx<'_>) -> Scripts {
    let reg = crate::lab::outside::registry();
    Scripts::new(
        format!(
            r#"secure=$(docker info --format '{{{{with index .RegistryConfig.IndexConfigs "{reg}"}}}}{{{{.Secure}}}}{{{{end}}}}')
[ "$secure" = false ] || {{ echo "docker does not list {reg} as an insecure registry"; exit 1; }}
"#
        ),
        format!(
            r#"mkdir -p /etc/docker
f=/etc/docker/daemon.json
[ -s "$f" ] || echo '{{}}' > "$f"
python3 - "$f" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as fh:
    conf = json.load(fh)
regs = [r for r in conf.get("insecure-registries", []) if r != "{reg}"]
conf["insecure-registries"] = regs + ["{reg}"]
with open(path + ".kubelab", "w") as fh:
    json.dump(conf, fh, indent=2)
    fh.write("\n")
PY
mv "$f.kubelab" "$f"
systemctl restart docker
"#
        ),
    )
}
