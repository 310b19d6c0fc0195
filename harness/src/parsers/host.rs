//! Host-preparation outputs: swap, kernel modules, sysctls, Docker, kubelet config,
//! NetworkManager, listening sockets, kubelet serving certificate.

use super::ParseError;

/// One active swap area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapArea {
    /// Device or file, e.g. `/swap.img`.
    pub name: String,
    /// `file` or `partition`.
    pub kind: String,
}

/// Parses `swapon --show` (util-linux 2.34+: `NAME TYPE SIZE USED PRIO`; empty when no swap).
pub fn parse_swapon_show(text: &str) -> Result<Vec<SwapArea>, ParseError> {
    parse_swap_table(text, "swapon --show", "NAME")
}

/// Parses `/proc/swaps` (`Filename Type Size Used Priority`; only the header when no swap).
pub fn parse_proc_swaps(text: &str) -> Result<Vec<SwapArea>, ParseError> {
    parse_swap_table(text, "/proc/swaps", "Filename")
}

fn parse_swap_table(text: &str, what: &'static str, header: &str) -> Result<Vec<SwapArea>, ParseError> {
    // Rows are `<path> <file|partition> ...`; they are found by token so the table also reads
    // when a log quotes it (kubelet's `/proc/swaps contents=<` journal lines, or one flattened
    // `Filename Type Size Used Priority /dev/dm-1 partition ...` error string).
    let mut out = Vec::new();
    let mut header_seen = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        header_seen |= f.contains(&header) || f.contains(&"Filename");
        for w in f.windows(2) {
            if w[0].starts_with('/') && w[0] != "/proc/swaps" && matches!(w[1], "file" | "partition") {
                out.push(SwapArea { name: w[0].trim_start_matches('`').into(), kind: w[1].into() });
            }
        }
    }
    if out.is_empty()
        && !header_seen
        && let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty())
    {
        return Err(ParseError::at(what, first, format!("unexpected row `{first}`")));
    }
    Ok(out)
}

/// kubelet's refusal to run with swap (`running with swap on is not supported ... --fail-swap-on`), verbatim.
pub fn kubelet_swap_error(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| l.to_ascii_lowercase().contains("swap on is not supported"))
}

/// The uncommented swap entries of an `/etc/fstab` (third field `swap`), verbatim.
pub fn fstab_swap_lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.starts_with('#')).filter(|l| l.split_whitespace().nth(2) == Some("swap")).collect()
}

/// Module names listed by `lsmod` (`Module Size Used by` header skipped).
pub fn parse_lsmod(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("Module ")).filter_map(|l| l.split_whitespace().next()).collect()
}

/// What `sysctl key...` / `sysctl -p` / `sysctl --system` / `sysctl -a | grep ...` printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SysctlOutput {
    /// `key = value` pairs in order (a key printed twice keeps both; the last one is current).
    pub pairs: Vec<(String, String)>,
    /// Keys sysctl could not find, with its message (`sysctl: cannot stat
    /// /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory`, `sysctl: setting
    /// key "net.bridge.bridge-nf-call-iptables": No such file or directory`).
    pub missing: Vec<(String, String)>,
    /// Lines that are not sysctl's, verbatim.
    pub unread: Vec<String>,
}

impl SysctlOutput {
    /// The last value printed for `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    /// sysctl's message when `key` does not exist.
    pub fn missing(&self, key: &str) -> Option<&str> {
        self.missing.iter().find(|(k, _)| k == key).map(|(_, m)| m.as_str())
    }
}

/// Parses sysctl's output (stdout and stderr may be given together).
pub fn parse_sysctl_output(text: &str) -> SysctlOutput {
    let mut out = SysctlOutput::default();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("* Applying ") {
            continue;
        }
        if let Some(rest) = t.strip_prefix("sysctl: ") {
            let key = if let Some(p) = rest.strip_prefix("cannot stat /proc/sys/") {
                p.split(':').next().map(|p| p.replace('/', "."))
            } else {
                rest.split_once("key \"").and_then(|(_, r)| r.split_once('"')).map(|(k, _)| k.to_string())
            };
            match key {
                Some(k) => out.missing.push((k, t.to_string())),
                None => out.unread.push(t.to_string()),
            }
            continue;
        }
        match t.split_once(" = ") {
            Some((k, v)) if !k.trim().contains(' ') => out.pairs.push((k.trim().to_string(), v.trim().to_string())),
            _ => out.unread.push(t.to_string()),
        }
    }
    out
}

/// Parses `sysctl key...` output (`net.ipv4.ip_forward = 1`) into (key, value) pairs.
/// `sysctl -n` output (bare values) yields no pairs; use [`sysctl_value_only`] for it.
pub fn parse_sysctl(text: &str) -> Vec<(&str, &str)> {
    text.lines().filter_map(|l| l.split_once(" = ")).map(|(k, v)| (k.trim(), v.trim())).collect()
}

/// The single value printed by `sysctl -n key`.
pub fn sysctl_value_only(text: &str) -> Option<&str> {
    let mut it = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let v = it.next()?;
    it.next().is_none().then_some(v)
}

/// The `Cgroup Driver:` of `docker info` (every release since 1.x prints ` Cgroup Driver: x`
/// in the server section; also read through `docker info | grep Cgroup` and markdown emphasis
/// such as `**Cgroup Driver: cgroupfs`).
pub fn docker_cgroup_driver(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().trim_start_matches(['*', '`', '_']).strip_prefix("Cgroup Driver:"))
        .map(|v| v.trim().trim_end_matches(['*', '`', '_']).trim())
}

/// docker's "daemon not running" line (`Cannot connect to the Docker daemon at unix:///var/run/docker.sock.
/// Is the docker daemon running?`, with or without `ERROR: ` / `error during connect:`), verbatim.
pub fn docker_daemon_down(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| l.contains("Cannot connect to the Docker daemon") || l.contains("error during connect"))
}

/// The keys the checks read from `/var/lib/kubelet/config.yaml` (KubeletConfiguration v1beta1).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KubeletConfig {
    /// `cgroupDriver` (kubeadm 1.23 writes `systemd`; the kubelet's own default is `cgroupfs`).
    pub cgroup_driver: Option<String>,
    /// `serverTLSBootstrap`.
    pub server_tls_bootstrap: bool,
}

/// Parses the kubelet's configuration: `/var/lib/kubelet/config.yaml`, the `kubelet-config`
/// ConfigMap (the same YAML under `data.kubelet: |`), or the running kubelet's
/// `/configz` JSON (`{"kubeletconfig": {...}}`).
pub fn parse_kubelet_config(text: &str) -> Result<KubeletConfig, ParseError> {
    const WHAT: &str = "kubelet config.yaml";
    if let Some(v) = super::json_in(text) {
        // `/configz` wraps the typed KubeletConfiguration in `{"kubeletconfig": …}`.
        let c = v.get("kubeletconfig").unwrap_or(&v);
        let k: super::KubeletConfiguration = super::typed(WHAT, c)?;
        return Ok(KubeletConfig { cgroup_driver: k.cgroup_driver, server_tls_bootstrap: k.server_tls_bootstrap == Some(true) });
    }
    if let Ok(k) = super::parse_kubelet_configuration(text)
        && k.kind.as_deref() == Some("KubeletConfiguration")
    {
        return Ok(KubeletConfig { cgroup_driver: k.cgroup_driver, server_tls_bootstrap: k.server_tls_bootstrap == Some(true) });
    }
    if text.lines().any(|l| l.trim() == "kind: KubeletConfiguration") {
        return Ok(KubeletConfig {
            cgroup_driver: super::loose_key(text, "cgroupDriver").map(String::from),
            server_tls_bootstrap: super::loose_key(text, "serverTLSBootstrap") == Some("true"),
        });
    }
    // A `grep` excerpt of config.yaml: only top-level KubeletConfiguration keys.
    const KEYS: [&str; 8] = [
        "rotateCertificates",
        "serverTLSBootstrap",
        "cgroupDriver",
        "clusterDNS",
        "clusterDomain",
        "staticPodPath",
        "authentication",
        "resolvConf",
    ];
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if !lines.is_empty() && lines.iter().all(|l| l.split_once(':').is_some_and(|(k, _)| KEYS.contains(&k.trim()))) {
        return Ok(KubeletConfig {
            cgroup_driver: super::loose_key(text, "cgroupDriver").map(String::from),
            server_tls_bootstrap: super::loose_key(text, "serverTLSBootstrap") == Some("true"),
        });
    }
    let first = lines.first().copied().unwrap_or("(empty output)");
    Err(ParseError::at(WHAT, first, "no `kind: KubeletConfiguration`"))
}

/// NetworkManager's presence as printed by the `network-manager` probe
/// (`is-active: <systemctl is-active>` then dpkg's `Status:` line or `Status: not-installed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkManagerStatus {
    /// `systemctl is-active NetworkManager` said `active`.
    pub active: bool,
    /// dpkg says the package is installed.
    pub installed: bool,
}

/// Parses the `network-manager` probe output, and the forms users paste: `systemctl status
/// NetworkManager` (`Loaded:` / `Active:` lines), `systemctl is-active`, `dpkg -s` (`Status:`),
/// and `nmcli` (answering at all means the daemon runs; the devices it manages are returned).
pub fn parse_network_manager(text: &str) -> Result<NetworkManagerStatus, ParseError> {
    let find = |p: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(p)).map(str::trim);
    if let (Some(a), Some(s)) = (find("is-active:"), find("Status:")) {
        return Ok(NetworkManagerStatus { active: a == "active", installed: s.ends_with(" installed") });
    }
    if let Some(loaded) = find("Loaded:") {
        let active = find("Active:").is_some_and(|a| a.starts_with("active"));
        return Ok(NetworkManagerStatus { active, installed: !loaded.starts_with("not-found") });
    }
    if let Some(s) = find("Status:") {
        return Ok(NetworkManagerStatus { active: false, installed: s.ends_with(" installed") });
    }
    // nmcli's device overview: `cali1a81d481534: connecting (getting IP configuration) to ...`.
    if text
        .lines()
        .any(|l| l.contains(": connected to ") || l.contains(": connecting (") || l.contains(": unmanaged") || l.contains(": disconnected"))
    {
        return Ok(NetworkManagerStatus { active: true, installed: true });
    }
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty output)");
    Err(ParseError::at("network-manager probe", first, "expected `is-active:`/`Status:`, `systemctl status` or `nmcli` lines"))
}

/// Interfaces `nmcli` shows NetworkManager handling (`cali1a81d481534: connecting ...`).
pub fn nmcli_devices(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, r)| r.starts_with("connect") || r.starts_with("disconnected"))
        .map(|(d, _)| d.trim())
        .collect()
}

/// One listening TCP socket from `ss -Htlnp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Local `address:port`.
    pub local: String,
    /// Port.
    pub port: u16,
    /// First process name from `users:(("name",pid=..))`, if shown.
    pub process: Option<String>,
}

/// Parses listening TCP sockets as `ss -tlnp` (with or without header), `netstat -tlnp`
/// (`tcp6 0 0 :::6443 :::* LISTEN 2229/kube-apiserver`), Windows `netstat -ano` (`TCP
/// 127.0.0.1:6443 0.0.0.0:0 LISTENING 1234`) or `lsof -i` (`kube-apis 1523 root 7u IPv6 ... TCP
/// *:6443 (LISTEN)`) print them. Rows in other states (TIME_WAIT, ESTABLISHED) are skipped.
pub fn parse_ss_listeners(text: &str) -> Result<Vec<Listener>, ParseError> {
    const WHAT: &str = "ss -Htlnp";
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let t = line.trim();
        let f: Vec<&str> = t.split_whitespace().collect();
        let header = ["State", "Netid", "Proto", "Active", "COMMAND"].contains(&f[0]);
        if header {
            continue;
        }
        let (local, process) = if f[0] == "LISTEN" && f.len() >= 5 {
            let process = t.split_once("users:((\"").and_then(|(_, r)| r.split_once('"')).map(|(name, _)| name.to_string());
            (f[3], process)
        } else if matches!(f[0], "tcp" | "tcp6" | "tcp4") && f.len() >= 6 {
            if f[5] != "LISTEN" {
                continue;
            }
            let process = f.get(6).and_then(|p| p.split_once('/')).map(|(_, n)| n.to_string());
            (f[3], process)
        } else if f[0] == "TCP" && f.len() >= 4 {
            if f[3] != "LISTENING" {
                continue;
            }
            (f[1], None)
        } else if t.ends_with("(LISTEN)") && f.len() >= 3 {
            let name = f[f.len() - 2];
            (name, Some(f[0].to_string()))
        } else if matches!(f[0], "tcp" | "tcp6" | "TCP" | "udp" | "udp6") || t.contains("(ESTABLISHED)") {
            continue;
        } else {
            return Err(ParseError::at(WHAT, t, format!("unexpected row `{t}`")));
        };
        let local = local.to_string();
        let port = local
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| ParseError::at(WHAT, t, format!("no port in `{local}`")))?;
        out.push(Listener { local, port, process });
    }
    Ok(out)
}

impl Listener {
    /// Bound to a loopback address only (`127.0.0.1:6443`, `[::1]:6443`).
    pub fn loopback(&self) -> bool {
        let host = self.local.rsplit_once(':').map_or("", |(h, _)| h);
        host.starts_with("127.") || host == "[::1]" || host == "::1" || host == "localhost"
    }
}

/// What `openssl x509 -noout -subject -issuer -ext subjectAltName` printed for the kubelet's
/// serving certificate.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServingCert {
    /// `subject=` line value.
    pub subject: String,
    /// `issuer=` line value.
    pub issuer: String,
    /// `IP Address:` SANs.
    pub ip_sans: Vec<String>,
    /// openssl reported `self signed certificate` (s_client), verbatim.
    pub self_signed_note: Option<String>,
}

impl ServingCert {
    /// Signed by itself or by the kubelet's own throwaway CA (`host-ca@1529943864`), as the
    /// kubelet does without serverTLSBootstrap.
    pub fn self_signed(&self) -> bool {
        let cn = |s: &str| s.rsplit("CN").next().unwrap_or("").trim_start_matches([' ', '=']).trim().to_string();
        self.self_signed_note.is_some()
            || cn(&self.issuer) == cn(&self.subject)
            || cn(&self.issuer).contains("-ca@")
            || cn(&self.subject).contains('@')
    }
}

/// Parses the `kubelet-serving-cert` probe: `-subject -issuer -ext subjectAltName` (OpenSSL
/// 1.1.1/3.x), `-text` (`Issuer: CN = ...` / `Subject: ...`), or `s_client` (`depth=0 CN = ...`,
/// `verify error:num=18:self signed certificate`).
pub fn parse_serving_cert(text: &str) -> Result<ServingCert, ParseError> {
    let find = |prefixes: &[&str]| text.lines().map(str::trim).find_map(|l| prefixes.iter().find_map(|p| l.strip_prefix(p))).map(str::trim);
    let note = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("self signed certificate") || l.contains("self-signed certificate"))
        .map(String::from);
    let subject = find(&["subject=", "Subject:", "depth=0 "]);
    let issuer = find(&["issuer=", "Issuer:"]).or(if note.is_some() { subject } else { None });
    let (Some(subject), Some(issuer)) = (subject, issuer) else {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty output)");
        return Err(ParseError::at("openssl x509", first, "expected `subject=` and `issuer=` (or `-text` Subject/Issuer) lines"));
    };
    let ip_sans = text.split([',', '\n']).filter_map(|p| p.trim().strip_prefix("IP Address:")).map(|s| s.trim().to_string()).collect();
    Ok(ServingCert { subject: subject.into(), issuer: issuer.into(), ip_sans, self_signed_note: note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_tables() {
        // Ubuntu 20.04 installer default: a 2 GiB /swap.img (util-linux 2.34).
        let show = "NAME      TYPE SIZE USED PRIO\n/swap.img file   2G   0B   -2\n";
        assert_eq!(parse_swapon_show(show).unwrap(), vec![SwapArea { name: "/swap.img".into(), kind: "file".into() }]);
        assert!(parse_swapon_show("").unwrap().is_empty());
        let proc = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap.img                               file\t\t2097148\t\t0\t\t-2\n";
        assert_eq!(parse_proc_swaps(proc).unwrap()[0].name, "/swap.img");
        assert!(parse_proc_swaps("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n").unwrap().is_empty());
    }

    #[test]
    fn fstab_swap() {
        // Ubuntu 20.04 /etc/fstab as the installer writes it.
        let f = "# /etc/fstab: static file system information.\nUUID=0b1c-44 /               ext4    errors=remount-ro 0       1\n/swap.img\tnone\tswap\tsw\t0\t0\n";
        assert_eq!(fstab_swap_lines(f), vec!["/swap.img\tnone\tswap\tsw\t0\t0"]);
        assert!(fstab_swap_lines(&f.replace("/swap.img", "#/swap.img")).is_empty());
    }

    #[test]
    fn lsmod_guide_sample() {
        // The guide's `lsmod | grep br_netfilter`, plus the real header.
        let t = "Module                  Size  Used by\nbr_netfilter           28672  0\nbridge                249856  1 br_netfilter\n";
        assert_eq!(parse_lsmod(t), vec!["br_netfilter", "bridge"]);
    }

    #[test]
    fn sysctl_forms() {
        let t = "net.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 0\n";
        assert_eq!(parse_sysctl(t), vec![("net.bridge.bridge-nf-call-iptables", "1"), ("net.ipv4.ip_forward", "0")]);
        assert_eq!(sysctl_value_only("1\n"), Some("1"));
        assert_eq!(sysctl_value_only("1\n0\n"), None);
    }

    #[test]
    fn docker_info_driver() {
        // Docker 20.10 `docker info`, server section.
        let t = "Client:\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: 20\n  Running: 10\n Server Version: 20.10.14\n Storage Driver: overlay2\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: 1\n";
        assert_eq!(docker_cgroup_driver(t), Some("cgroupfs"));
        assert_eq!(docker_cgroup_driver("Cannot connect to the Docker daemon"), None);
    }

    #[test]
    fn kubelet_config() {
        // Excerpt of what kubeadm 1.23 writes to /var/lib/kubelet/config.yaml, plus the guide's edit.
        let t = "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nkind: KubeletConfiguration\nserverTLSBootstrap: true\n";
        let c = parse_kubelet_config(t).unwrap();
        assert_eq!(c.cgroup_driver.as_deref(), Some("systemd"));
        assert!(c.server_tls_bootstrap);
        assert!(!parse_kubelet_config(&t.replace("serverTLSBootstrap: true\n", "")).unwrap().server_tls_bootstrap);
        assert!(parse_kubelet_config("").is_err());
    }

    #[test]
    fn network_manager() {
        let on = parse_network_manager("is-active: active\nStatus: install ok installed\n").unwrap();
        assert!(on.active && on.installed);
        let off = parse_network_manager("is-active: inactive\nStatus: not-installed\n").unwrap();
        assert!(!off.active && !off.installed);
        let removed = parse_network_manager("is-active: inactive\nStatus: deinstall ok config-files\n").unwrap();
        assert!(!removed.installed);
        assert!(parse_network_manager("").is_err());
    }

    #[test]
    fn ss_listener() {
        // iproute2 5.5 (Ubuntu 20.04) `ss -Htlnp 'sport = :6443'` on the control plane.
        let t = "LISTEN 0      4096               *:6443             *:*    users:((\"kube-apiserver\",pid=1523,fd=7))\n";
        let l = parse_ss_listeners(t).unwrap();
        assert_eq!(l[0].port, 6443);
        assert_eq!(l[0].process.as_deref(), Some("kube-apiserver"));
        assert!(parse_ss_listeners("").unwrap().is_empty());
        assert!(parse_ss_listeners("garbage row\n").is_err());
    }

    #[test]
    fn serving_cert() {
        // OpenSSL 1.1.1f on Ubuntu 20.04, kubelet-server-current.pem after CSR approval.
        let t = "subject=O = system:nodes, CN = system:node:ICE-k8s-machines-node1\nissuer=CN = kubernetes\nX509v3 Subject Alternative Name: \n    DNS:ICE-k8s-machines-node1, IP Address:192.168.1.135\n";
        let c = parse_serving_cert(t).unwrap();
        assert_eq!(c.issuer, "CN = kubernetes");
        assert_eq!(c.ip_sans, vec!["192.168.1.135"]);
        assert!(parse_serving_cert("Could not open file").is_err());
    }
}
