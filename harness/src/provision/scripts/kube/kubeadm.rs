//! Cluster bootstrap (the guide's kubeadm phase): `k8s.packages`, `kubeadm.images-pull`,
//! `kubeadm.init`, `kubeadm.join` (and the join credentials the runner fetches first), `kubeconfig`.

use super::{ALIYUN_REPO, KUBECONFIG, KUBELAB_DIR, tmpdir};
use crate::provision::PinSet;
use crate::provision::scripts::common::{Ctx, FETCH_FN, Scripts, fetch, fill, sq, verify, with_pins};

/// Placeholder replaced by the runner with a fresh bootstrap token (never rendered into logs).
pub(crate) const JOIN_TOKEN_PLACEHOLDER: &str = "@@JOIN_TOKEN@@";
/// Placeholder replaced by the runner with the CA public-key hash (hex, without `sha256:`).
pub(crate) const CA_HASH_PLACEHOLDER: &str = "@@CA_CERT_HASH@@";

/// `k8s.packages`: upstream = pinned release binaries + kubelet unit files + crictl + CNI
/// plugins; aliyun mirror = the guide's apt repository, `=1.23.6-00`, held.
pub(crate) fn k8s_packages(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        if ctx.aliyun() {
            return aliyun_packages(p);
        }
        let mut check = String::new();
        for b in &p.kube_binaries {
            check.push_str(&verify(b, &format!("/usr/local/bin/{}", b.artifact)));
            check.push('\n');
        }
        check.push_str(
            r#"grep -qs 'ExecStart=/usr/local/bin/kubelet' /etc/systemd/system/kubelet.service || { echo 'kubelet.service is missing'; exit 1; }
grep -qs '/usr/local/bin/kubelet' /etc/systemd/system/kubelet.service.d/10-kubeadm.conf || { echo '10-kubeadm.conf is missing'; exit 1; }
systemctl is-enabled --quiet kubelet || { echo 'kubelet is not enabled'; exit 1; }
[ -x /usr/local/bin/crictl ] || { echo 'crictl is missing'; exit 1; }
for p in bridge loopback host-local portmap; do
  [ -x "/opt/cni/bin/$p" ] || { echo "CNI plugin $p is missing in /opt/cni/bin"; exit 1; }
done
for t in conntrack socat ebtables ethtool ip iptables; do
  command -v "$t" >/dev/null 2>&1 || { echo "$t is missing (kubeadm preflight)"; exit 1; }
done
"#,
        );
        let mut action = format!(
            "{FETCH_FN}{}apt-get update\napt-get install -y apt-transport-https ca-certificates curl conntrack socat ebtables ethtool iproute2 iptables\n",
            tmpdir()
        );
        for b in &p.kube_binaries {
            let name = b.artifact;
            action.push_str(&format!("{}\ninstall -m 0755 \"$tmp/{name}\" /usr/local/bin/{name}\n", fetch(b, &format!("\"$tmp/{name}\""))));
        }
        action.push_str(&fill(
            r#"# kubelet unit files from kubernetes/release v0.4.0 (the 1.23 install docs), /usr/bin -> /usr/local/bin
@FETCH_SERVICE@
sed 's:/usr/bin:/usr/local/bin:g' "$tmp/kubelet.service" > /etc/systemd/system/kubelet.service
mkdir -p /etc/systemd/system/kubelet.service.d
@FETCH_DROPIN@
sed 's:/usr/bin:/usr/local/bin:g' "$tmp/10-kubeadm.conf" > /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
@FETCH_CRICTL@
tar -C /usr/local/bin -xzf "$tmp/crictl.tgz" crictl
mkdir -p /opt/cni/bin
@FETCH_CNI@
tar -C /opt/cni/bin -xzf "$tmp/cni.tgz"
systemctl daemon-reload
systemctl enable kubelet
"#,
            &[
                ("FETCH_SERVICE", &fetch(&p.kubelet_service, "\"$tmp/kubelet.service\"")),
                ("FETCH_DROPIN", &fetch(&p.kubeadm_dropin, "\"$tmp/10-kubeadm.conf\"")),
                ("FETCH_CRICTL", &fetch(&p.crictl, "\"$tmp/crictl.tgz\"")),
                ("FETCH_CNI", &fetch(&p.cni_plugins, "\"$tmp/cni.tgz\"")),
            ],
        ));
        Scripts::new(check, action)
    })
}

fn aliyun_packages(p: &PinSet) -> Scripts {
    let v = format!("{}-00", p.kube_tag.trim_start_matches('v'));
    Scripts::new(
        fill(
            r#"# shellcheck disable=SC2016
holds=$(apt-mark showhold)
for p in kubelet kubeadm kubectl; do
  [ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)" = '@V@' ] || { echo "$p is not @V@"; exit 1; }
  grep -qx "$p" <<<"$holds" || { echo "$p is not held"; exit 1; }
done
"#,
            &[("V", &v)],
        ),
        fill(
            r#"# the guide's own repository (mirror = "aliyun")
apt-get update
apt-get install -y apt-transport-https ca-certificates curl
curl -fsSLo /usr/share/keyrings/kubernetes-archive-keyring.gpg https://mirrors.aliyun.com/kubernetes/apt/doc/apt-key.gpg
echo 'deb [signed-by=/usr/share/keyrings/kubernetes-archive-keyring.gpg] https://mirrors.aliyun.com/kubernetes/apt/ kubernetes-xenial main' > /etc/apt/sources.list.d/kubernetes.list
apt-get update
apt-get install -y --allow-downgrades --allow-change-held-packages kubelet=@V@ kubeadm=@V@ kubectl=@V@
apt-mark hold kubelet kubeadm kubectl
"#,
            &[("V", &v)],
        ),
    )
}

/// The kubeadm config file (upstream mirror): registry.k8s.io with the coredns subpath trap
/// avoided (`dns.imageRepository`), dockershim socket, systemd cgroup driver.
fn kubeadm_config(ctx: &Ctx<'_>, p: &PinSet) -> String {
    fill(
        r#"want_kubeadm_config() {
  cat <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: @IP@
  bindPort: 6443
nodeRegistration:
  criSocket: /var/run/dockershim.sock
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: @TAG@
imageRepository: registry.k8s.io
dns:
  imageRepository: registry.k8s.io/coredns
networking:
  podSubnet: @POD_CIDR@
  serviceSubnet: @SERVICE_CIDR@
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
EOF
}
write_kubeadm_config() {
  mkdir -p @DIR@
  want_kubeadm_config > @DIR@/kubeadm-config.yaml
}
"#,
        &[
            ("IP", &ctx.control_plane().ip.to_string()),
            ("TAG", &p.kube_tag),
            ("POD_CIDR", &ctx.cfg.pod_cidr.to_string()),
            ("SERVICE_CIDR", &ctx.cfg.service_cidr.to_string()),
            ("DIR", KUBELAB_DIR),
        ],
    )
}

/// `kubeadm.images-pull`: the guide's `kubeadm config images pull` (with the config file, or the
/// aliyun `--image-repository`).
pub(crate) fn images_pull(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let (args, prelude, config_check) = if ctx.aliyun() {
            (format!("--image-repository {ALIYUN_REPO} --kubernetes-version {}", p.kube_tag), String::new(), String::new())
        } else {
            (
                format!("--config {KUBELAB_DIR}/kubeadm-config.yaml"),
                kubeadm_config(ctx, p),
                format!(
                    "[ \"$(cat {KUBELAB_DIR}/kubeadm-config.yaml 2>/dev/null)\" = \"$(want_kubeadm_config)\" ] || {{ echo 'kubeadm config file is missing or stale'; exit 1; }}\n"
                ),
            )
        };
        let check = fill(
            r#"@PRELUDE@@CONFIG_CHECK@images=$(kubeadm config images list @ARGS@)
while read -r img; do
  docker image inspect "$img" >/dev/null 2>&1 || { echo "image $img is not pulled"; exit 1; }
done <<<"$images"
"#,
            &[("PRELUDE", &prelude), ("CONFIG_CHECK", &config_check), ("ARGS", &args)],
        );
        let write = if ctx.aliyun() { "" } else { "write_kubeadm_config\n" };
        let action = format!("{prelude}{write}kubeadm config images pull {args}\n");
        Scripts::new(check, action)
    })
}

/// `kubeadm.init`: on the control plane, with `timeout` and `-v=5`; a half-done init (manifests
/// but no admin.conf) is reset first (the guide's `kubeadm reset`).
pub(crate) fn kubeadm_init(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let (prelude, cmd) = if ctx.aliyun() {
            (
                String::new(),
                format!(
                    "timeout 900 kubeadm init --image-repository {ALIYUN_REPO} --kubernetes-version {} --apiserver-advertise-address \"${{KUBELAB_NODE_IP:?}}\" --pod-network-cidr={} --service-cidr={} -v=5\n",
                    p.kube_tag, ctx.cfg.pod_cidr, ctx.cfg.service_cidr
                ),
            )
        } else {
            (
                kubeadm_config(ctx, p),
                format!("write_kubeadm_config\ntimeout 900 kubeadm init --config {KUBELAB_DIR}/kubeadm-config.yaml -v=5\n"),
            )
        };
        let check = format!(
            r#"[ -f /etc/kubernetes/admin.conf ] || {{ echo 'no /etc/kubernetes/admin.conf: the control plane is not initialised'; exit 1; }}
{KUBECONFIG}timeout 90 bash -c 'until kubectl get --raw=/readyz >/dev/null 2>&1; do sleep 3; done' || {{ echo 'the API server does not answer /readyz'; exit 1; }}
"#
        );
        let action = format!(
            r#"{prelude}if [ -f /etc/kubernetes/admin.conf ]; then
  echo 'the control plane was initialised but the API server does not answer /readyz; see journalctl -u kubelet; to start over run kubeadm reset -f' >&2
  exit 1
fi
if [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ]; then
  echo 'leftovers of an interrupted kubeadm init: kubeadm reset -f (the guide: on errors run kubeadm reset)'
  kubeadm reset -f
fi
listeners=$(ss -Hltn 'sport = :6443')
if [ -n "$listeners" ]; then
  echo 'port 6443 is already in use (the guide: lsof -i | grep 6443):' >&2
  ss -ltnp 'sport = :6443' >&2
  exit 1
fi
{cmd}"#
        );
        Scripts::new(check, action)
    })
}

/// Runs on the control plane before `kubeadm.join`: a fresh token and the guide's openssl
/// CA-hash pipeline. Prints `token=...` and `hash=...`.
pub(crate) fn join_credentials() -> String {
    r#"# kubelab: join credentials (the guide: kubeadm token create + openssl on ca.crt)
set -euo pipefail
export KUBECONFIG=/etc/kubernetes/admin.conf
token=$(kubeadm token create --ttl 1h)
hash=$(openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt | openssl rsa -pubin -outform der 2>/dev/null | openssl dgst -sha256 -hex | sed 's/^.* //')
printf 'token=%s\nhash=%s\n' "$token" "$hash"
"#
    .to_string()
}

/// `kubeadm.join`: workers join with the runner-supplied token and CA hash, `timeout`, `-v=5`;
/// a token failure prints the guide's fix.
pub(crate) fn kubeadm_join(ctx: &Ctx<'_>) -> Scripts {
    let cp = ctx.control_plane();
    Scripts::new(
        r#"[ -f /etc/kubernetes/kubelet.conf ] || { echo 'not joined: no /etc/kubernetes/kubelet.conf'; exit 1; }
systemctl is-active --quiet kubelet || { echo 'kubelet is not running'; exit 1; }
"#,
        fill(
            r#"if [ -e /etc/kubernetes/pki/ca.crt ]; then
  echo 'leftovers of an interrupted kubeadm join: kubeadm reset -f (the guide: on errors run kubeadm reset)'
  kubeadm reset -f
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
timeout 300 kubeadm join @CP@:6443 --token '@@JOIN_TOKEN@@' --discovery-token-ca-cert-hash 'sha256:@@CA_CERT_HASH@@' -v=5 >"$out" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
  cat "$out"
  exit 0
fi
cat "$out" >&2
if grep -qE 'could not find a JWS signature|is invalid for this cluster or it has expired|token id .* is invalid|Unauthorized' "$out"; then
  echo "kubeadm join was refused the bootstrap token: the token expires after 24 h: run \`kubeadm token create\` on node0 (then re-run kubelab provision --only kubeadm.join)" >&2
fi
if [ "$rc" = 124 ]; then
  echo 'kubeadm join timed out after 300 s; can this node reach @CP@:6443 (security group, firewall)?' >&2
fi
exit "$rc"
"#,
            &[("CP", &cp.ip.to_string())],
        ),
    )
}

/// `kubeconfig`: admin.conf copied to the user's ~/.kube/config, owned by the user, and
/// `export KUBECONFIG=...` in ~/.bashrc (the guide's `$PROFILE`).
pub(crate) fn kubeconfig(ctx: &Ctx<'_>) -> Scripts {
    let user = sq(&ctx.cfg.user);
    let head = fill(
        r#"home=$(getent passwd @USER@ | cut -d: -f6)
[ -n "$home" ] || { echo "user "@USER@" does not exist" >&2; exit 1; }
line="export KUBECONFIG=$home/.kube/config"
"#,
        &[("USER", &user)],
    );
    Scripts::new(
        format!(
            r#"{head}cmp -s /etc/kubernetes/admin.conf "$home/.kube/config" || {{ echo "$home/.kube/config differs from admin.conf"; exit 1; }}
[ "$(stat -c %U "$home/.kube/config")" = {user} ] || {{ echo "$home/.kube/config is not owned by "{user}; exit 1; }}
grep -qxF "$line" "$home/.bashrc" || {{ echo "$home/.bashrc does not export KUBECONFIG"; exit 1; }}
"#
        ),
        format!(
            r#"{head}mkdir -p "$home/.kube"
cp -f /etc/kubernetes/admin.conf "$home/.kube/config"
chmod 600 "$home/.kube/config"
chown -R "$(id -u {user}):$(id -g {user})" "$home/.kube"
if ! grep -qxF "$line" "$home/.bashrc" 2>/dev/null; then
  echo "$line" >> "$home/.bashrc"
  chown "$(id -u {user}):$(id -g {user})" "$home/.bashrc"
fi
"#
        ),
    )
}
