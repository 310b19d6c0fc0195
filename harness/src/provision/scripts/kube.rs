//! Kubernetes steps (guide profile only): packages, kubeadm init/join, kubeconfig, calico,
//! kube-proxy IPVS, kubelet serving certificates, metrics-server, Helm, MetalLB.

use crate::provision::PinSet;

use super::common::{Ctx, FETCH_FN, Scripts, fetch, fill, sq, verify, with_pins};

/// Root's kubeconfig (the guide's `export KUBECONFIG=/etc/kubernetes/admin.conf`).
const KUBECONFIG: &str = "export KUBECONFIG=/etc/kubernetes/admin.conf\n";
/// kubelab's own files on the nodes (rendered configs, fetched manifests).
const KUBELAB_DIR: &str = "/etc/kubelab";
/// The aliyun image repository the guide passes to kubeadm.
const ALIYUN_REPO: &str = "registry.aliyuncs.com/google_containers";
/// Placeholder replaced by the runner with a fresh bootstrap token (never rendered into logs).
pub(crate) const JOIN_TOKEN_PLACEHOLDER: &str = "@@JOIN_TOKEN@@";
/// Placeholder replaced by the runner with the CA public-key hash (hex, without `sha256:`).
pub(crate) const CA_HASH_PLACEHOLDER: &str = "@@CA_CERT_HASH@@";

fn tmpdir() -> &'static str {
    "tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n"
}

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

/// `calico.apply`: calico.yaml from the v3.22.2 release tarball, images rewritten to
/// quay.io/calico (Docker Hub pull limits), applied, rolled out.
pub(crate) fn calico_apply(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let v = ctx.cfg.versions.calico.trim_start_matches('v');
        Scripts::new(
            fill(
                r#"@KC@img=$(kubectl -n kube-system get ds calico-node -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
[ "$img" = 'quay.io/calico/node:v@V@' ] || { echo "calico-node image is '$img'"; exit 1; }
kubectl -n kube-system rollout status ds/calico-node --timeout=15s
"#,
                &[("KC", KUBECONFIG), ("V", v)],
            ),
            fill(
                r#"@FETCH_FN@@KC@@TMP@@FETCH@
if ! tar -C "$tmp" -xzf "$tmp/release.tgz" release-v@V@/k8s-manifests/calico.yaml; then
  echo 'release-v@V@.tgz has no k8s-manifests/calico.yaml (layout unverified, artifacts.md row 4)' >&2
  exit 1
fi
mkdir -p @DIR@
sed -E 's#(image: )(docker\.io/)?calico/#\1quay.io/calico/#' "$tmp/release-v@V@/k8s-manifests/calico.yaml" > @DIR@/calico.yaml
grep -q 'image: quay.io/calico/node:v@V@' @DIR@/calico.yaml || { echo 'calico.yaml does not reference calico/node:v@V@' >&2; exit 1; }
kubectl apply -f @DIR@/calico.yaml
kubectl -n kube-system rollout status ds/calico-node --timeout=600s
kubectl -n kube-system rollout status deploy/calico-kube-controllers --timeout=600s
"#,
                &[
                    ("FETCH_FN", FETCH_FN),
                    ("KC", KUBECONFIG),
                    ("TMP", tmpdir()),
                    ("FETCH", &fetch(&p.calico_release, "\"$tmp/release.tgz\"")),
                    ("V", v),
                    ("DIR", KUBELAB_DIR),
                ],
            ),
        )
    })
}

/// `calicoctl.install`: pinned binary to /usr/local/bin.
pub(crate) fn calicoctl_install(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        Scripts::new(
            format!("{}\n", verify(&p.calicoctl, "/usr/local/bin/calicoctl")),
            format!(
                "{FETCH_FN}{}{}\ninstall -m 0755 \"$tmp/calicoctl\" /usr/local/bin/calicoctl\n",
                tmpdir(),
                fetch(&p.calicoctl, "\"$tmp/calicoctl\"")
            ),
        )
    })
}

/// Deletes the kube-proxy pods (the DaemonSet recreates them) and waits until every new pod
/// logged `Using ipvs Proxier`.
const RESTART_KUBE_PROXY: &str = r#"kubectl -n kube-system delete pod -l k8s-app=kube-proxy --wait=true
kubectl -n kube-system rollout status ds/kube-proxy --timeout=300s
for _ in $(seq 1 40); do
  if kube_proxy_ipvs; then exit 0; fi
  sleep 3
done
echo 'kube-proxy pods did not come back in ipvs mode within 120 s' >&2
exit 1
"#;

const KUBE_PROXY_IPVS_FN: &str = r#"kube_proxy_ipvs() {
  local pods p logs
  pods=$(kubectl -n kube-system get pods -l k8s-app=kube-proxy -o name)
  [ -n "$pods" ] || return 1
  while read -r p; do
    logs=$(kubectl -n kube-system logs "$p" 2>/dev/null || true)
    grep -q 'Using ipvs Proxier' <<<"$logs" || { echo "$p is not in ipvs mode"; return 1; }
  done <<<"$pods"
}
"#;

/// `kube-proxy.ipvs`: `mode: "ipvs"` in the kube-proxy ConfigMap (get | sed | apply), restart
/// the pods, confirm from their logs.
pub(crate) fn kube_proxy_ipvs(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        format!(
            r#"{KUBECONFIG}{KUBE_PROXY_IPVS_FN}conf=$(kubectl -n kube-system get cm kube-proxy -o jsonpath='{{.data.config\.conf}}')
grep -qE '^mode: "?ipvs"?$' <<<"$conf" || {{ echo 'kube-proxy ConfigMap mode is not ipvs'; exit 1; }}
kube_proxy_ipvs
"#
        ),
        format!(
            r#"{KUBECONFIG}{KUBE_PROXY_IPVS_FN}kubectl -n kube-system get cm kube-proxy -o yaml | sed -E 's/^    mode: ".*"$/    mode: "ipvs"/' | kubectl apply -f -
conf=$(kubectl -n kube-system get cm kube-proxy -o jsonpath='{{.data.config\.conf}}')
grep -qE '^mode: "?ipvs"?$' <<<"$conf" || {{ echo 'the kube-proxy ConfigMap edit did not take (no mode line?)' >&2; exit 1; }}
{RESTART_KUBE_PROXY}"#
        ),
    )
}

/// `kubelet.server-tls-bootstrap`: `serverTLSBootstrap: true` in the kubelet-config-1.23
/// ConfigMap (control plane) and in every node's /var/lib/kubelet/config.yaml, kubelet restarted.
pub(crate) fn server_tls_bootstrap(ctx: &Ctx<'_>) -> Scripts {
    let minor = ctx.pins.map(|p| p.kube_minor.clone()).unwrap_or_else(|| "1.23".into());
    let cm = format!("kubelet-config-{minor}");
    Scripts::new(
        fill(
            r#"f=/var/lib/kubelet/config.yaml
grep -qx 'serverTLSBootstrap: true' "$f" || { echo "$f lacks serverTLSBootstrap: true"; exit 1; }
since=$(systemctl show kubelet -p ActiveEnterTimestamp --value)
[ -n "$since" ] || { echo 'kubelet is not running'; exit 1; }
[ "$(date -d "$since" +%s)" -ge "$(stat -c %Y "$f")" ] || { echo 'kubelet was not restarted after the config change'; exit 1; }
if [ "${KUBELAB_ROLE:?}" = control-plane ]; then
  export KUBECONFIG=/etc/kubernetes/admin.conf
  data=$(kubectl -n kube-system get cm @CM@ -o jsonpath='{.data.kubelet}')
  grep -qx 'serverTLSBootstrap: true' <<<"$data" || { echo 'ConfigMap @CM@ lacks serverTLSBootstrap: true'; exit 1; }
fi
"#,
            &[("CM", &cm)],
        ),
        fill(
            r#"if [ "${KUBELAB_ROLE:?}" = control-plane ]; then
  export KUBECONFIG=/etc/kubernetes/admin.conf
  data=$(kubectl -n kube-system get cm @CM@ -o jsonpath='{.data.kubelet}')
  if grep -q '^serverTLSBootstrap:' <<<"$data"; then
    kubectl -n kube-system get cm @CM@ -o yaml | sed -E 's/^    serverTLSBootstrap: .*$/    serverTLSBootstrap: true/' | kubectl apply -f -
  else
    kubectl -n kube-system get cm @CM@ -o yaml | sed -E '/^    kind: KubeletConfiguration$/a\    serverTLSBootstrap: true' | kubectl apply -f -
  fi
fi
f=/var/lib/kubelet/config.yaml
if grep -q '^serverTLSBootstrap:' "$f"; then
  sed -i -E 's/^serverTLSBootstrap:.*$/serverTLSBootstrap: true/' "$f"
else
  echo 'serverTLSBootstrap: true' >> "$f"
fi
systemctl restart kubelet
"#,
            &[("CM", &cm)],
        ),
    )
}

/// `csr.approve`: the check — every node has an issued kubelet-serving certificate and no
/// kubelet-serving CSR is pending. The action is no script: the provisioner waits for a
/// kubelet-serving CSR from every node, approves the pending ones (only kubelet-serving) through
/// the CSR `approval` subresource and waits for the certificates, all through the kube client
/// (`ClusterWait::ServingCsrsApproved`).
pub(crate) fn csr_approve(ctx: &Ctx<'_>) -> Scripts {
    // Kubernetes node names are the lowercased hostnames.
    let nodes: Vec<String> = ctx.nodes.iter().map(|n| n.name.to_ascii_lowercase()).collect();
    let head = fill(
        r#"export KUBECONFIG=/etc/kubernetes/admin.conf
nodes='@NODES@'
serving_csrs() {
  kubectl get csr -o go-template='{{range .items}}{{if eq .spec.signerName "kubernetes.io/kubelet-serving"}}{{.metadata.name}} {{.spec.username}} {{if .status.certificate}}issued{{else}}{{if .status.conditions}}decided{{else}}pending{{end}}{{end}}{{"\n"}}{{end}}{{end}}'
}
all_nodes() { # all_nodes CSR-LIST STATE-REGEX
  local n
  for n in $nodes; do
    grep -qE "^[^ ]+ system:node:$n ($2)\$" <<<"$1" || return 1
  done
}
"#,
        &[("NODES", &nodes.join(" "))],
    );
    Scripts::new(
        format!(
            r#"{head}csrs=$(serving_csrs)
all_nodes "$csrs" issued || {{ echo 'some node has no issued kubelet-serving certificate'; exit 1; }}
if grep -q ' pending$' <<<"$csrs"; then echo 'pending kubelet-serving CSRs remain'; exit 1; fi
"#
        ),
        String::new(),
    )
}

/// `metrics-server.apply`: components.yaml v0.6.1 with the image rewritten to registry.k8s.io;
/// then the provisioner waits for APIService v1beta1.metrics.k8s.io Available through the kube
/// client (`ClusterWait::MetricsApiAvailable`).
pub(crate) fn metrics_server(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let v = ctx.cfg.versions.metrics_server.trim_start_matches('v');
        let image = format!("registry.k8s.io/metrics-server/metrics-server:v{v}");
        Scripts::new(
            fill(
                r#"@KC@img=$(kubectl -n kube-system get deploy metrics-server -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
[ "$img" = '@IMAGE@' ] || { echo "metrics-server image is '$img'"; exit 1; }
kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null || { echo 'the metrics API does not answer'; exit 1; }
"#,
                &[("KC", KUBECONFIG), ("IMAGE", &image)],
            ),
            fill(
                r#"@FETCH_FN@@KC@@TMP@@FETCH@
mkdir -p @DIR@
sed -E 's#k8s\.gcr\.io/metrics-server/metrics-server#registry.k8s.io/metrics-server/metrics-server#' "$tmp/components.yaml" > @DIR@/metrics-server.yaml
grep -q 'image: @IMAGE@' @DIR@/metrics-server.yaml || { echo 'components.yaml does not reference @IMAGE@ after the rewrite' >&2; exit 1; }
kubectl apply -f @DIR@/metrics-server.yaml
kubectl -n kube-system rollout status deploy/metrics-server --timeout=300s
"#,
                &[
                    ("FETCH_FN", FETCH_FN),
                    ("KC", KUBECONFIG),
                    ("TMP", tmpdir()),
                    ("FETCH", &fetch(&p.metrics_server, "\"$tmp/components.yaml\"")),
                    ("DIR", KUBELAB_DIR),
                    ("IMAGE", &image),
                ],
            ),
        )
    })
}

/// `helm.install`: the guide's "Linux Binary" route, tarball sha256-pinned.
pub(crate) fn helm_install(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let v = format!("v{}", ctx.cfg.versions.helm.trim_start_matches('v'));
        Scripts::new(
            format!(
                "v=$(helm version --template '{{{{.Version}}}}' 2>/dev/null || true)\n[ \"$v\" = {v} ] || {{ echo \"helm is '$v'\"; exit 1; }}\n"
            ),
            format!(
                "{FETCH_FN}{}{}\ntar -C \"$tmp\" -xzf \"$tmp/helm.tgz\" linux-amd64/helm\ninstall -m 0755 \"$tmp/linux-amd64/helm\" /usr/local/bin/helm\n",
                tmpdir(),
                fetch(&p.helm, "\"$tmp/helm.tgz\"")
            ),
        )
    })
}

/// `metallb.strict-arp`: `strictARP: true` in the kube-proxy ConfigMap (MetalLB's documented
/// get | sed | apply), kube-proxy pods restarted to pick it up.
pub(crate) fn metallb_strict_arp(_: &Ctx<'_>) -> Scripts {
    Scripts::new(
        format!(
            r#"{KUBECONFIG}conf=$(kubectl -n kube-system get cm kube-proxy -o jsonpath='{{.data.config\.conf}}')
grep -qE '^[[:space:]]+strictARP: true$' <<<"$conf" || {{ echo 'kube-proxy ConfigMap has no strictARP: true'; exit 1; }}
"#
        ),
        format!(
            r#"{KUBECONFIG}{KUBE_PROXY_IPVS_FN}kubectl -n kube-system get cm kube-proxy -o yaml | sed -e 's/strictARP: false/strictARP: true/' | kubectl apply -f -
{RESTART_KUBE_PROXY}"#
        ),
    )
}

/// `metallb.apply`: namespace.yaml + metallb.yaml v0.12.1, sha256-pinned.
pub(crate) fn metallb_apply(ctx: &Ctx<'_>) -> Scripts {
    with_pins(ctx, |p| {
        let v = ctx.cfg.versions.metallb.trim_start_matches('v');
        Scripts::new(
            fill(
                r#"@KC@img=$(kubectl -n metallb-system get deploy controller -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
[ "$img" = 'quay.io/metallb/controller:v@V@' ] || { echo "metallb controller image is '$img'"; exit 1; }
kubectl -n metallb-system rollout status deploy/controller --timeout=15s
kubectl -n metallb-system rollout status ds/speaker --timeout=15s
"#,
                &[("KC", KUBECONFIG), ("V", v)],
            ),
            fill(
                r#"@FETCH_FN@@KC@mkdir -p @DIR@
@FETCH_NS@
@FETCH_MLB@
kubectl apply -f @DIR@/metallb-namespace.yaml
kubectl apply -f @DIR@/metallb.yaml
kubectl -n metallb-system rollout status deploy/controller --timeout=300s
kubectl -n metallb-system rollout status ds/speaker --timeout=300s
"#,
                &[
                    ("FETCH_FN", FETCH_FN),
                    ("KC", KUBECONFIG),
                    ("DIR", KUBELAB_DIR),
                    ("FETCH_NS", &fetch(&p.metallb_namespace, &format!("{KUBELAB_DIR}/metallb-namespace.yaml"))),
                    ("FETCH_MLB", &fetch(&p.metallb_manifest, &format!("{KUBELAB_DIR}/metallb.yaml"))),
                ],
            ),
        )
    })
}

/// `metallb.pool`: the guide's layer-2 ConfigMap with `metallb_pool` from the config.
pub(crate) fn metallb_pool(ctx: &Ctx<'_>) -> Scripts {
    let config = format!("address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - {}\n", ctx.cfg.metallb_pool);
    let indented: String = config.lines().map(|l| format!("    {l}\n")).collect();
    Scripts::new(
        fill(
            r#"@KC@have=$(kubectl -n metallb-system get cm config -o jsonpath='{.data.config}' 2>/dev/null || true)
want=$(cat <<'EOF'
@CONFIG@EOF
)
[ "$have" = "$want" ] || { echo 'metallb-system/config does not hold the wanted pool'; exit 1; }
"#,
            &[("KC", KUBECONFIG), ("CONFIG", &config)],
        ),
        fill(
            r#"@KC@mkdir -p @DIR@
cat > @DIR@/metallbcm.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: metallb-system
  name: config
data:
  config: |
@INDENTED@EOF
kubectl apply -f @DIR@/metallbcm.yaml
"#,
            &[("KC", KUBECONFIG), ("DIR", KUBELAB_DIR), ("INDENTED", &indented)],
        ),
    )
}
