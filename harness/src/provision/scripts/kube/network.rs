//! Pod network and service proxy: `calico.apply`, `calicoctl.install`, `kube-proxy.ipvs` (and
//! the kube-proxy restart that `metallb.strict-arp` shares).

use super::{KUBECONFIG, KUBELAB_DIR, tmpdir};
use crate::provision::scripts::common::{Ctx, FETCH_FN, Scripts, fetch, fill, verify, with_pins};

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
pub(super) const RESTART_KUBE_PROXY: &str = r#"kubectl -n kube-system delete pod -l k8s-app=kube-proxy --wait=true
kubectl -n kube-system rollout status ds/kube-proxy --timeout=300s
for _ in $(seq 1 40); do
  if kube_proxy_ipvs; then exit 0; fi
  sleep 3
done
echo 'kube-proxy pods did not come back in ipvs mode within 120 s' >&2
exit 1
"#;

pub(super) const KUBE_PROXY_IPVS_FN: &str = r#"kube_proxy_ipvs() {
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
