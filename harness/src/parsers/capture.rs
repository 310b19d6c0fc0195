//! Shell noise around pasted captures, removed in one place for every probe: a markdown quote
//! prefix (`> `) on every line, shell prompts with the echoed command (`$ cmd`,
//! `root@host:~# cmd`, `[user@host ~]$ cmd`, `node-1 # cmd`, `/ # ./cmd`), a bare echoed command
//! on the first line, the output of *other* commands pasted in the same block, and trailing
//! prompt lines. Main function: [`clean_capture`].

use std::borrow::Cow;

/// Command words a probe's capture is produced by (what a pasted prompt line runs), by probe id.
pub fn probe_commands(probe: &str) -> &'static [&'static str] {
    match probe {
        "hostname" => &["hostname", "hostnamectl"],
        "product-uuid" | "machine-id" | "etc-hosts" | "fstab" | "proc-swaps" => &["cat", "more", "less"],
        "kubelet-config" | "kubelet-serving-cert" => &["cat", "openssl", "more", "less"],
        "ip-link" | "ip-route" | "tunl0" | "kube-ipvs0" => &["ip", "ifconfig", "route"],
        "ssh-hostkey" => &["ssh-keygen"],
        "swapon" => &["swapon", "free"],
        "lsmod" => &["lsmod"],
        "sysctl-net" => &["sysctl", "cat"],
        "listen-6443" => &["ss", "lsof", "netstat"],
        "docker-info" => &["docker"],
        "network-manager" => &["systemctl", "dpkg", "service", "nmcli"],
        "bgp-calicoctl" => &["calicoctl"],
        "bgp-birdc" => &["birdc", "birdcl", "bird", "nc", "curl", "show"],
        "kubeadm-join" => &["kubeadm"],
        "proxy-mode" => &["curl", "wget"],
        "ipvsadm" => &["ipvsadm"],
        "helm-version" => &["helm"],
        p if p.starts_with("k8s-") => &["kubectl", "k", "microk8s", "oc", "watch", "curl", "wget"],
        _ => &[],
    }
}

/// Commands a pasted prompt line may run (used to tell `# cmd` / `host # cmd` prompts from
/// comments and output).
const KNOWN_COMMANDS: &[&str] = &[
    "calicoctl",
    "birdc",
    "birdcl",
    "ipvsadm",
    "kubectl",
    "kubeadm",
    "curl",
    "wget",
    "docker",
    "swapon",
    "cat",
    "sysctl",
    "ss",
    "lsof",
    "netstat",
    "ip",
    "ifconfig",
    "openssl",
    "helm",
    "hostname",
    "hostnamectl",
    "ssh-keygen",
    "systemctl",
    "dpkg",
    "lsmod",
    "grep",
    "sudo",
    "free",
    "journalctl",
    "watch",
    "microk8s",
    "k",
    "oc",
    "date",
    "echo",
    "ls",
    "modprobe",
    "nc",
    "service",
    "more",
    "less",
    "nmcli",
    "bird",
    "route",
    "wget",
];

/// The first word of a command line, without `sudo`, env assignments or a `./` / path prefix.
fn command_word(cmd: &str) -> &str {
    let mut words = cmd.split_whitespace();
    let mut w = words.next().unwrap_or("");
    while w == "sudo" || w == "time" || w.contains('=') && !w.starts_with('-') {
        match words.next() {
            Some(n) => w = n,
            None => break,
        }
    }
    if w.starts_with("sudo") && w.len() > 4 {
        // `$sudo calicoctl` pasted without a space after the prompt.
        return command_word(words.next().unwrap_or(""));
    }
    w.rsplit('/').next().unwrap_or(w)
}

fn is_known(cmd: &str) -> bool {
    let w = command_word(cmd);
    KNOWN_COMMANDS.contains(&w)
}

/// If `line` is a shell prompt, the command it runs (possibly empty).
pub fn prompt_command(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() {
        return None;
    }
    // Markdown-escaped prompts: `\# cmd`, `\$ cmd`.
    let t = t.strip_prefix('\\').unwrap_or(t);
    // BIRD's interactive client: `bird> show protocols`.
    if let Some(rest) = t.strip_prefix("bird>") {
        return Some(rest.trim());
    }
    // `$ cmd`, `$cmd`, `$`.
    if let Some(rest) = t.strip_prefix('$') {
        return Some(rest.trim());
    }
    // `# cmd`, `#cmd` (root prompt): only with a known command, else it is a comment.
    if let Some(rest) = t.strip_prefix('#')
        && is_known(rest.trim_start())
    {
        return Some(rest.trim());
    }
    // Decorated prompts (`❯ cmd`, `sk@mac ~ % cmd`, `controlplane ~ ➜  k get cm`,
    // `@user ➜ /path (main) $ cmd`): a known command after the last prompt sign.
    for sign in ["❯ ", "➜ ", "% ", "$ ", "> "] {
        if let Some(i) = t.rfind(sign) {
            let (head, rest) = (&t[..i], t[i + sign.len()..].trim());
            if head.split_whitespace().count() <= 6 && !head.contains('|') && is_known(rest) && looks_like_command(rest) {
                return Some(rest);
            }
        }
    }
    // `[user@host ~]$ cmd`, `[root@host]# cmd`.
    if t.starts_with('[')
        && let Some(end) = t.find(']')
        && t[..end].contains('@')
        && let Some(rest) = t[end + 1..].strip_prefix('$').or_else(|| t[end + 1..].strip_prefix('#'))
    {
        return Some(rest.trim());
    }
    // `user@host:~# cmd`, `user@host:/path$ cmd`, `admin@XXX : ~$ cmd`, `user@host $ cmd`.
    if let Some(at) = t.find('@')
        && !t[..at].is_empty()
        && !t[..at].contains(char::is_whitespace)
        && let Some(end) = t[at..].find(['$', '#']).map(|i| at + i)
    {
        let host = &t[at + 1..end];
        let rest = &t[end + 1..];
        let host_ok = !host.trim().is_empty() && host.chars().all(|c| c.is_alphanumeric() || ".-_:~/ ".contains(c));
        if host_ok && (rest.is_empty() || rest.starts_with(' ')) {
            return Some(rest.trim());
        }
    }
    // `node-1 # cmd`, `master $ cmd`, `/ # ./cmd`, `host:~ # cmd`: a known command required.
    if let Some((head, rest)) = t.split_once(" # ").or_else(|| t.split_once(" $ "))
        && !head.contains(char::is_whitespace)
        && head.chars().all(|c| c.is_alphanumeric() || ".-_:~/".contains(c))
        && is_known(rest)
    {
        return Some(rest.trim());
    }
    // A decorated prompt with nothing typed (`@me ➜ /w (main) $`, `sk@mac ~ %`).
    if let Some(head) = t.strip_suffix(['$', '#', '%', '❯']).map(str::trim_end)
        && !head.is_empty()
        && head.split_whitespace().count() <= 6
        && (head.contains('➜') || head.contains('@') && head.contains(['~', ':', ' ']))
    {
        return Some("");
    }
    // `PS C:\> docker info`, `C:\Users\me> docker info`.
    let win = t.strip_prefix("PS ").unwrap_or(t);
    if win.len() > 3
        && win.as_bytes()[1] == b':'
        && win.as_bytes()[2] == b'\\'
        && let Some((_, rest)) = win.split_once('>')
    {
        return Some(rest.trim());
    }
    None
}

fn strip_quote_prefix(text: &str) -> Cow<'_, str> {
    if let Some(n) = common_prefix(text) {
        let mut out = String::with_capacity(text.len());
        for l in text.lines() {
            out.push_str(l.get(n..).unwrap_or(""));
            out.push('\n');
        }
        return Cow::Owned(out);
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() || !lines.iter().all(|l| l.starts_with('>')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for l in text.lines() {
        let l = l.strip_prefix('>').unwrap_or(l);
        out.push_str(l.strip_prefix(' ').unwrap_or(l));
        out.push('\n');
    }
    Cow::Owned(out)
}

/// Does `cmd` run one of `wanted` (the probe's command words)? Pipelines count by any stage.
fn runs_one_of(cmd: &str, wanted: &[&str]) -> bool {
    cmd.split(['|', ';', '&']).any(|stage| wanted.contains(&command_word(stage)))
        || cmd.split_whitespace().any(|w| wanted.contains(&w.rsplit('/').next().unwrap_or(w)))
}

/// The first non-blank line when it is a bare command (no prompt) running a known tool.
pub fn bare_command(text: &str) -> Option<&str> {
    let f = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    (is_known(f) && looks_like_command(f)).then_some(f)
}

/// The capture with shell noise removed (see the module docs). Lines of the probe's own output
/// are kept byte for byte; when no prompt or quote is present the text is returned unchanged.
/// `probe` selects which pasted commands' outputs belong to it ([`probe_commands`]).
pub fn clean_capture<'a>(probe: &str, text: &'a str) -> Cow<'a, str> {
    let wanted = probe_commands(probe);
    let unquoted = strip_quote_prefix(text);
    let lines: Vec<&str> = unquoted.lines().collect();
    // Segments: (command, lines); the first has no command (text before any prompt).
    let mut segments: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    for l in &lines {
        // kube-proxy's `/proxyMode` answer has no newline: the next prompt is glued to it.
        if let Some((word, rest)) = glued_answer(probe, l) {
            segments.last_mut().expect("one segment").1.push(word);
            segments.push((prompt_command(rest), Vec::new()));
            continue;
        }
        // Ansible per-host headers, `for h in ...; do echo ">>> $h"; ssh $h ...; done` separators
        // and sudo's password prompt are not any tool's output.
        if is_ansible_header(l) || is_host_separator(l) || is_noise(l) {
            continue;
        }
        match prompt_command(l) {
            Some(cmd) => segments.push((Some(cmd), Vec::new())),
            None => segments.last_mut().expect("one segment").1.push(l),
        }
    }
    let any_prompt = segments.len() > 1 || lines.iter().any(|l| is_ansible_header(l) || is_host_separator(l) || is_noise(l));
    let mut kept: Vec<&str> = Vec::new();
    let probe_segment = segments.iter().any(|(c, _)| c.is_some_and(|c| probe_of_command(c) == Some(probe) || runs_one_of(c, wanted)));
    for (i, (cmd, body)) in segments.iter().enumerate() {
        let keep = match cmd {
            None => true,
            // Another command's output pasted in the same block is not this probe's output;
            // when no prompt names the probe's tool, keep everything (the tool may be aliased).
            Some(c) => match probe_of_command(c) {
                // Identity probes are also read from `kubectl get nodes` listings.
                Some(p) => p == probe || p == "k8s-nodes" && matches!(probe, "hostname" | "machine-id" | "product-uuid"),
                None => runs_one_of(c, wanted) || !probe_segment && !c.is_empty() && !is_known(c) || c.is_empty() && i == 0,
            },
        };
        if keep {
            kept.extend(body.iter().copied());
        }
    }
    // A bare echoed command on the first non-blank line (`calicoctl node status`, `docker info`).
    if let Some(first) = kept.iter().position(|l| !l.trim().is_empty()) {
        let f = kept[first].trim();
        if !wanted.is_empty() && runs_one_of(f, wanted) && wanted.contains(&command_word(f)) && looks_like_command(f) {
            kept.remove(first);
            return Cow::Owned(join(&kept));
        }
    }
    if !any_prompt {
        return unquoted;
    }
    Cow::Owned(join(&kept))
}

fn kubectl_only_nodes(c: &str) -> bool {
    // `kubectl get nodes -o yaml | grep UUID` is a product_uuid capture; plain `get nodes` is not.
    !c.contains("uuid")
}

/// What [`probe_of_command`] says for a known tool run for something no probe captures
/// (`calicoctl get nodes`).
pub const OTHER_COMMAND: &str = "(other command)";

/// The probe a pasted command line runs, when it names one.
pub fn probe_of_command(cmd: &str) -> Option<&'static str> {
    let c = cmd.to_ascii_lowercase();
    let has = |w: &str| c.contains(w);
    let kubectl = has("kubectl") || has("microk8s") || c.starts_with("k ") || c.starts_with("oc ");
    Some(if has("calicoctl") && !has("status") {
        OTHER_COMMAND
    } else if has("calicoctl") {
        "bgp-calicoctl"
    } else if has("birdc") || has("bird.ctl") || has("show protocols") {
        "bgp-birdc"
    } else if has("ipvsadm") {
        "ipvsadm"
    } else if has("proxymode") {
        "proxy-mode"
    } else if has("docker pull") || has("kubelab-outside.txt") {
        "egress"
    } else if has("kubelab_outside") {
        "floating-ips"
    } else if has("docker info") {
        "docker-info"
    } else if has("kubeadm join") {
        "kubeadm-join"
    } else if has("swapon") {
        "swapon"
    } else if has("/proc/swaps") {
        "proc-swaps"
    } else if has("/etc/fstab") {
        "fstab"
    } else if has("/etc/hosts") {
        "etc-hosts"
    } else if has("product_uuid") || has("uuid") && !kubectl_only_nodes(&c) {
        "product-uuid"
    } else if has("machine-id") {
        "machine-id"
    } else if has("sysctl") {
        "sysctl-net"
    } else if has("lsmod") {
        "lsmod"
    } else if has("kubelet/config.yaml") || has("configz") || has("kubelet-config") || has("kubelet.config") {
        "kubelet-config"
    } else if has("openssl") {
        "kubelet-serving-cert"
    } else if has("ssh-keygen") {
        "ssh-hostkey"
    } else if has("helm version") {
        "helm-version"
    } else if has("networkmanager") || has("network-manager") || has("nmcli") {
        "network-manager"
    } else if has("tunl0") {
        "tunl0"
    } else if has("kube-ipvs0") {
        "kube-ipvs0"
    } else if has("ip route") || has("ip r ") || c == "ip r" || has("route -n") {
        "ip-route"
    } else if has("ip -o link") || has("ip link") || has("ip l ") {
        "ip-link"
    } else if has("6443") && (has("ss ") || has("lsof") || has("netstat")) {
        "listen-6443"
    } else if has("hostname") {
        "hostname"
    } else if (kubectl || has("curl") || has("wget")) && (has("/version") || kubectl && has(" version")) {
        "k8s-version"
    } else if kubectl && (has("top node") || has("top no")) || has("metrics.k8s.io/v1beta1/nodes") {
        "k8s-node-metrics"
    } else if kubectl && has("apiservice") {
        "k8s-apiservice-metrics"
    } else if kubectl && has("csr") {
        "k8s-csr"
    } else if kubectl && has("kube-proxy") && (has(" cm") || has("configmap")) {
        "k8s-kube-proxy-cm"
    } else if kubectl && (has(" svc") || has("service")) {
        "k8s-services"
    } else if kubectl && (has(" pod") || has(" po ") || c.ends_with(" po")) {
        "k8s-pods-kube-system"
    } else if kubectl && (has(" node") || has(" no ") || c.ends_with(" no")) {
        "k8s-nodes"
    } else {
        return None;
    })
}

/// `ipvsroot@node1:~# ` → (`ipvs`, `root@node1:~# `) for outputs printed without a newline.
fn glued_answer<'a>(probe: &str, line: &'a str) -> Option<(&'a str, &'a str)> {
    if probe != "proxy-mode" {
        return None;
    }
    let t = line.trim_start();
    super::PROXY_MODES.iter().find_map(|m| {
        let rest = t.strip_prefix(m)?;
        (!rest.is_empty() && prompt_command(rest).is_some()).then(|| (&t[..m.len()], rest))
    })
}

/// `docker info`, `calicoctl node status`, `kubectl get nodes -o wide`: words that are command
/// arguments rather than output (no `:` key, no table pipes).
fn looks_like_command(line: &str) -> bool {
    !line.contains(": ") && !line.starts_with('|') && !line.ends_with(':') && line.split_whitespace().count() <= 16
}

/// sudo's password prompt and the HTML/markdown wrappers of a paste (`<html>`, `<pre>`, a lone
/// code fence).
fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("[sudo] password for ") || matches!(t, "<html>" | "</html>" | "<body>" | "</body>" | "<pre>" | "</pre>" | "```" | "`")
}

/// `>>> 172.27.138.251`: a per-host separator printed by a loop over the nodes.
fn is_host_separator(line: &str) -> bool {
    line.trim().strip_prefix(">>> ").is_some_and(|h| !h.trim().is_empty() && !h.trim().contains(' '))
}

/// Ansible ad-hoc's per-host header: `192.168.1.3 | SUCCESS | rc=0 >>`.
fn is_ansible_header(line: &str) -> bool {
    let t = line.trim();
    t.ends_with(">>") && t.contains(" | ") && t.contains("rc=")
}

/// A prefix every non-empty line carries (`    node2: ` from vagrant's provisioner output).
fn common_prefix(text: &str) -> Option<usize> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next()?;
    let t = first.trim_start();
    let (word, _) = t.split_once(": ")?;
    if word.is_empty() || word.contains(char::is_whitespace) {
        return None;
    }
    let prefix = &first[..first.len() - t.len() + word.len() + 2];
    let mut n = 1;
    for l in lines {
        if !l.starts_with(prefix) {
            return None;
        }
        n += 1;
    }
    (n >= 2).then_some(prefix.len())
}

fn join(lines: &[&str]) -> String {
    // Drop trailing blank lines left by removed prompts, keep one final newline.
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
    let start = lines[..end].iter().position(|l| !l.trim().is_empty()).unwrap_or(end);
    let mut s = lines[start..end].join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        for (l, c) in [
            ("$ calicoctl node status", "calicoctl node status"),
            ("$sudo calicoctl node status", "sudo calicoctl node status"),
            ("root@node1:~# ipvsadm -Ln", "ipvsadm -Ln"),
            ("root@boot2docker:/tmp/x/diagnostics# calicoctl node status", "calicoctl node status"),
            ("[user@host ~]$ docker info", "docker info"),
            ("[root@calico-node-18122]# calicoctl get nodes", "calicoctl get nodes"),
            ("[root@calico-node-18121 ~]#", ""),
            (" [root@kubernetes ~]# docker info | grep Cgroup", "docker info | grep Cgroup"),
            ("admin@XXX : ~$ docker info", "docker info"),
            ("node-1 # calicoctl node status", "calicoctl node status"),
            ("/ # ./calicoctl node status", "./calicoctl node status"),
            ("# ./calicoctl status", "./calicoctl status"),
            ("master $ kubectl get nodes", "kubectl get nodes"),
        ] {
            assert_eq!(prompt_command(l), Some(c), "{l}");
        }
        for l in [
            "# /etc/fstab: static file system information.",
            "# The following lines are desirable for IPv6 capable hosts",
            "Calico process is running.",
            "| 10.1.1.35    | node-to-node mesh | up    | 13:58:37 | Established |",
            "Registry: https://index.docker.io/v1/",
            "TCP  10.96.0.1:443 rr",
        ] {
            assert_eq!(prompt_command(l), None, "{l}");
        }
    }

    #[test]
    fn cleaning() {
        let t =
            "[root@n ~]# calicoctl node status\nCalico process is not running.\n[root@n ~]# calicoctl get nodes\nNAME\nn1\n\n[root@n ~]#\n";
        assert_eq!(clean_capture("bgp-calicoctl", t), "Calico process is not running.\n");
        assert_eq!(
            clean_capture("bgp-calicoctl", "calicoctl node status\nCalico process is not running.\n"),
            "Calico process is not running.\n"
        );
        let plain = "Calico process is running.\n";
        assert!(matches!(clean_capture("bgp-calicoctl", plain), Cow::Borrowed(_)));
        assert_eq!(clean_capture("proxy-mode", "$ curl 127.0.0.1:10249/proxyMode\nipvsroot@n1:~# \n"), "ipvs\n");
        let q = "> root@rs1:/x# birdc show protocols\n> BIRD 1.6.3 ready.\n";
        assert_eq!(clean_capture("bgp-birdc", q), "BIRD 1.6.3 ready.\n");
        let fstab = "# /etc/fstab: static\n/swap.img none swap sw 0 0\n";
        assert_eq!(clean_capture("fstab", fstab), fstab);
    }
}
