//! Kubelet serving certificates and metrics-server: `kubelet.server-tls-bootstrap`,
//! `csr.approve`, `metrics-server.apply`.

use super::{KUBECONFIG, KUBELAB_DIR, tmpdir};
use crate::provision::scripts::common::{Ctx, FETCH_FN, Scripts, fetch, fill, with_pins};

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
