//! Add-ons: `helm.install`, `metallb.strict-arp`, `metallb.apply`, `metallb.pool`.

use super::network::{KUBE_PROXY_IPVS_FN, RESTART_KUBE_PROXY};
use super::{KUBECONFIG, KUBELAB_DIR, tmpdir};
use crate::provision::scripts::common::{Ctx, FETCH_FN, Scripts, fetch, fill, with_pins};

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
