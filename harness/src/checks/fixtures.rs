//! Generator of the recorded bundles under `tests/fixtures/bundles/` (test-only). Every bundle
//! is `guide-healthy` with exactly one fault applied, so they stay consistent. The committed
//! files are checked byte-for-byte against this generator (`KUBELAB_REGEN_FIXTURES=1` rewrites
//! them). Outputs follow the real tools' formats; each sample's origin is named where it is built.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{LabConfig, NodeConfig, Profile};
use crate::evidence::{
    BUNDLE_FORMAT_VERSION, Evidence, EvidenceHeader, Fact, FactFile, Manifest, Origin, ProbeCatalog, ScriptContext, Target, fact_path,
};
use crate::remote::ExecOutput;

const AT: &str = "2022-05-01T12:00:00Z";

/// One bundle in memory.
pub(crate) struct Bundle {
    pub name: &'static str,
    pub story: &'static str,
    pub differs: Vec<&'static str>,
    pub header: EvidenceHeader,
    pub facts: BTreeMap<(String, String), FactFile>,
}

fn cfg() -> LabConfig {
    LabConfig { profile: Profile::Guide, ..LabConfig::default() }
}

/// kubectl prints JSON with four-space indentation.
fn kubectl_json(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("json");
    let mut s = String::from_utf8(out).expect("utf8");
    s.push('\n');
    s
}

// Per-node constants, consistent across probes (nodeInfo.machineID = machine-id, systemUUID =
// product_uuid, tunl0 address = first address of the node's calico block).
const UUIDS: [&str; 3] =
    ["7d2c3f0e-1a4b-4c8e-9b61-2f5a8e7c0134", "b83e6a41-95c2-4f7d-8e0a-61d4c2b90135", "e19f4c72-3d86-4a5b-b7e2-9c0a1f6d0136"];
const MACHINE_IDS: [&str; 3] = ["3f1e9a7c2b5d4e6f8a0b1c2d3e4f5a6b", "8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a"];
const MACS: [&str; 3] = ["52:54:00:6b:3c:01", "52:54:00:1f:a2:7e", "52:54:00:c4:58:d9"];
const HOSTKEYS: [&str; 3] = [
    "SHA256:Xq3v0Yc4m3lH8WJm4v7b0nq9kZP1yq2oTt3h5sG7e1U",
    "SHA256:pB7nR2dQe0fJk9LwV4sZc6xY1uT8mA3hG5iO2yN0qKc",
    "SHA256:9sLk2Vx7QpZ4rW1mC8bN3tY6uE0aH5jF2gD7kS4oPq8",
];
const BLOCKS: [&str; 3] = ["10.233.104.0", "10.233.71.0", "10.233.113.128"];
const PODCIDRS: [&str; 3] = ["10.233.0.0/24", "10.233.1.0/24", "10.233.2.0/24"];

fn ok(s: impl Into<String>) -> ExecOutput {
    ExecOutput::ok(s)
}

fn err(status: u32, stdout: impl Into<String>, stderr: impl Into<String>) -> ExecOutput {
    ExecOutput { stdout: stdout.into(), stderr: stderr.into(), exit_status: status }
}

fn ip_link(i: usize) -> String {
    // iproute2 5.5 (Ubuntu 20.04) `ip -o link` on a calico + IPVS + Docker node.
    format!(
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n\
2: ens3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\\    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n\
3: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default \\    link/ether 02:42:7a:1e:3c:{i:02x} brd ff:ff:ff:ff:ff:ff\n\
4: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default \\    link/ether 6e:2f:91:4a:0b:{i:02x} brd ff:ff:ff:ff:ff:ff\n\
5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ipip 0.0.0.0 brd 0.0.0.0\n\
8: cali5d2f2c7a3b{i}@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP mode DEFAULT group default \\    link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns cni-4e0b7c1a-5d2f-9e31-0c6b-7a8d1f2e3b4{i}\n",
        mac = MACS[i]
    )
}

fn etc_hosts(nodes: &[NodeConfig], i: usize) -> String {
    // The guide's /etc/hosts (令服务器互相连接), 127.0.1.1 line as Ubuntu writes it.
    let mut s = format!("127.0.0.1       localhost\n127.0.1.1       {}\n\n", nodes[i].name);
    for n in nodes {
        s.push_str(&format!("{}   {}\n", n.ip, n.name));
    }
    s.push_str("\n# The following lines are desirable for IPv6 capable hosts\n::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n");
    s
}

// Ubuntu 20.04 installer fstab with the guide's edit: the /swap.img line commented out.
const FSTAB: &str = "# /etc/fstab: static file system information.\n#\n# Use 'blkid' to print the universally unique identifier for a\n# device; this may be used with UUID= as a more robust way to name devices\n# that works even if disks are added and removed. See fstab(5).\n#\n# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n/dev/disk/by-uuid/5e3a2b1c-7d4f-4a9e-b6c2-1f0e8d7a6c5b / ext4 defaults 0 1\n#/swap.img\tnone\tswap\tsw\t0\t0\n";

// kmod `lsmod` on Ubuntu 20.04 (5.4.0-109-generic) after the guide's modprobes, calico and IPVS.
const LSMOD: &str = "Module                  Size  Used by\nipip                   20480  0\ntunnel4                16384  1 ipip\nip_tunnel              24576  1 ipip\nip_vs_sh               16384  0\nip_vs_wrr              16384  0\nip_vs_rr               16384  10\nip_vs                 155648  16 ip_vs_rr,ip_vs_sh,ip_vs_wrr\nxt_set                 16384  9\nip_set_hash_net        45056  3\nip_set                 45056  2 ip_set_hash_net,xt_set\nxt_ipvs                16384  5\nxt_comment             16384  112\nxt_mark                16384  16\nveth                   28672  0\nxt_conntrack           16384  11\nxt_MASQUERADE          20480  3\nnf_conntrack_netlink   45056  0\nnfnetlink              16384  4 ip_set,nf_conntrack_netlink\nxt_addrtype            16384  7\niptable_filter         16384  1\niptable_nat            16384  2\nnf_nat                 40960  4 ip_vs,iptable_nat,xt_MASQUERADE\nnf_conntrack          139264  6 xt_conntrack,nf_nat,xt_ipvs,nf_conntrack_netlink,xt_MASQUERADE,ip_vs\nnf_defrag_ipv6         24576  2 nf_conntrack,ip_vs\nnf_defrag_ipv4         16384  1 nf_conntrack\nbpfilter               24576  0\nbr_netfilter           28672  0\nbridge                176128  1 br_netfilter\nstp                    16384  1 bridge\nllc                    16384  2 bridge,stp\noverlay               114688  20\n";

fn docker_info(driver: &str) -> String {
    // Docker 20.10.14 `docker info` (get.docker.com on Ubuntu 20.04), daemon.json with the guide's exec-opts.
    format!(
        "Client:\n Context:    default\n Debug Mode: false\n Plugins:\n  app: Docker App (Docker Inc., v0.9.1-beta3)\n  buildx: Docker Buildx (Docker Inc., v0.8.1-docker)\n  scan: Docker Scan (Docker Inc., v0.17.0)\n\n\
Server:\n Containers: 24\n  Running: 12\n  Paused: 0\n  Stopped: 12\n Images: 12\n Server Version: 20.10.14\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n  Supports d_type: true\n  Native Overlay Diff: true\n  userxattr: false\n Logging Driver: json-file\n Cgroup Driver: {driver}\n Cgroup Version: 1\n Plugins:\n  Volume: local\n  Network: bridge host ipvlan macvlan null overlay\n  Log: awslogs fluentd gcplogs gelf journald json-file local logentries splunk syslog\n Swarm: inactive\n Runtimes: io.containerd.runc.v2 io.containerd.runtime.v1.linux runc\n Default Runtime: runc\n Init Binary: docker-init\n containerd version: 3df54a852345ae127d1fa3092b95168e4a88e2f8\n runc version: v1.0.3-0-gf46b6ba\n init version: de40ad0\n Security Options:\n  apparmor\n  seccomp\n   Profile: default\n Kernel Version: 5.4.0-109-generic\n Operating System: Ubuntu 20.04.3 LTS\n OSType: linux\n Architecture: x86_64\n CPUs: 2\n Total Memory: 1.941GiB\n Docker Root Dir: /var/lib/docker\n Debug Mode: false\n Registry: https://index.docker.io/v1/\n Labels:\n Experimental: false\n Insecure Registries:\n  127.0.0.0/8\n Live Restore Enabled: false\n\n"
    )
}

fn kubelet_config(tls_bootstrap: bool) -> String {
    // /var/lib/kubelet/config.yaml as kubeadm 1.23.6 writes it, plus the guide's serverTLSBootstrap.
    let mut s = String::from(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\n  webhook:\n    cacheAuthorizedTTL: 0s\n    cacheUnauthorizedTTL: 0s\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\ncpuManagerReconcilePeriod: 0s\nevictionPressureTransitionPeriod: 0s\nfileCheckFrequency: 0s\nhealthzBindAddress: 127.0.0.1\nhealthzPort: 10248\nhttpCheckFrequency: 0s\nimageMinimumGCAge: 0s\nkind: KubeletConfiguration\nlogging:\n  flushFrequency: 0\n  options:\n    json:\n      infoBufferSize: \"0\"\n  verbosity: 0\nmemorySwap: {}\nnodeStatusReportFrequency: 0s\nnodeStatusUpdateFrequency: 0s\nresolvConf: /run/systemd/resolve/resolv.conf\nrotateCertificates: true\nruntimeRequestTimeout: 0s\n",
    );
    if tls_bootstrap {
        s.push_str("serverTLSBootstrap: true\n");
    }
    s.push_str("shutdownGracePeriod: 0s\nshutdownGracePeriodCriticalPods: 0s\nstaticPodPath: /etc/kubernetes/manifests\nstreamingConnectionIdleTimeout: 0s\nsyncFrequency: 0s\nvolumeStatsAggPeriod: 0s\n");
    s
}

fn calicoctl(nodes: &[NodeConfig], i: usize, states: &[(&str, &str)]) -> String {
    // calicoctl 3.22.2 `node status`, the guide's table layout (olekukonko/tablewriter: columns
    // as wide as their widest cell, headers centred). `states[k]` = (STATE, INFO) for the k-th other node.
    let rows: Vec<[String; 5]> = nodes
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != i)
        .map(|(_, n)| n)
        .enumerate()
        .map(|(k, n)| {
            let (state, info) = states.get(k).copied().unwrap_or(("up", "Established"));
            [n.ip.to_string(), "node-to-node mesh".into(), state.into(), format!("07:39:3{}", 2 + k), info.into()]
        })
        .collect();
    let headers = ["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"];
    // tablewriter wraps cells wider than 30 at word boundaries onto continuation rows whose other
    // cells are empty, and the column keeps width 30 (tests/fixtures/real/bgp-calicoctl/calicoctl-issue-1883-start-active-refused.txt).
    const MAX: usize = 30;
    let wrap = |s: &str| -> Vec<String> {
        if s.len() <= MAX {
            return vec![s.to_string()];
        }
        let mut lines = vec![String::new()];
        for w in s.split(' ') {
            let cur = lines.last_mut().expect("line");
            if !cur.is_empty() && cur.len() + 1 + w.len() > MAX {
                lines.push(w.to_string());
            } else {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(w);
            }
        }
        lines
    };
    let rows: Vec<[String; 5]> = rows
        .into_iter()
        .flat_map(|r| {
            let info = wrap(&r[4]);
            let mut out = vec![[r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone(), info[0].clone()]];
            out.extend(info[1..].iter().map(|l| [String::new(), String::new(), String::new(), String::new(), l.clone()]));
            out
        })
        .collect();
    // A wrapped column is as wide as the wrap limit (tablewriter: min(raw width, 30)).
    let wrapped = rows.iter().any(|r| r[0].is_empty());
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            let w = rows.iter().map(|r| r[c].len()).chain([headers[c].len()]).max().unwrap_or(0);
            if c == 4 && wrapped { MAX } else { w }
        })
        .collect();
    let rule: String = widths.iter().map(|w| format!("+{}", "-".repeat(w + 2))).collect::<String>() + "+\n";
    let centre = |h: &str, w: usize| {
        let pad = w - h.len();
        format!("{}{h}{}", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
    };
    let mut s = String::from("Calico process is running.\n\nIPv4 BGP status\n");
    s.push_str(&rule);
    s.push_str(&(0..5).map(|c| format!("| {} ", centre(headers[c], widths[c]))).collect::<String>());
    s.push_str("|\n");
    s.push_str(&rule);
    for r in &rows {
        s.push_str(&(0..5).map(|c| format!("| {:<w$} ", r[c], w = widths[c])).collect::<String>());
        s.push_str("|\n");
    }
    s.push_str(&rule);
    s.push_str("\nIPv6 BGP status\nNo IPv6 peers found.\n\n");
    s
}

fn ip_route(nodes: &[NodeConfig], i: usize, skip_peer: Option<usize>) -> String {
    // iproute2 5.5 `ip route` with calico 3.22 BIRD routes (IPIP mode Always).
    let mut lines = vec!["default via 192.168.1.1 dev ens3 proto static ".to_string()];
    for (k, n) in nodes.iter().enumerate() {
        if k == i {
            lines.push(format!("blackhole {}/26 proto bird ", BLOCKS[k]));
            let base: Vec<u8> = BLOCKS[k].split('.').map(|x| x.parse().expect("octet")).collect();
            for (c, host) in [(1u8, "a3b"), (2, "b71")] {
                lines.push(format!("{}.{}.{}.{} dev cali{host}5d2f2c7a{k} scope link ", base[0], base[1], base[2], base[3] + c));
            }
        } else if Some(k) != skip_peer {
            lines.push(format!("{}/26 via {} dev tunl0 proto bird onlink ", BLOCKS[k], n.ip));
        }
    }
    lines.push("172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown ".into());
    lines.push(format!("192.168.1.0/24 dev ens3 proto kernel scope link src {} ", nodes[i].ip));
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn tunl0(i: usize) -> String {
    // iproute2 5.5 `ip -d addr show tunl0` with calico IPIP.
    format!(
        "5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/ipip 0.0.0.0 brd 0.0.0.0 promiscuity 0 minmtu 0 maxmtu 0 \n    ipip any remote any local any ttl inherit nopmtudisc addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 \n    inet {}/32 scope global tunl0\n       valid_lft forever preferred_lft forever\n",
        BLOCKS[i]
    )
}

fn pod_ip(node: usize, n: u8) -> String {
    let base: Vec<u8> = BLOCKS[node].split('.').map(|x| x.parse().expect("octet")).collect();
    format!("{}.{}.{}.{}", base[0], base[1], base[2], base[3] + n)
}

fn ipvsadm(lb: bool, metrics_ready: bool) -> String {
    // ipvsadm v1.31 `-Ln` as kube-proxy 1.23 programs it (rr scheduler, Masq).
    let mut s = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    s.push_str("TCP  10.96.0.1:443 rr\n  -> 192.168.1.134:6443           Masq    1      4          0         \n");
    s.push_str(&format!(
        "TCP  10.96.0.10:53 rr\n  -> {:<29} Masq    1      0          0         \n  -> {:<29} Masq    1      0          0         \n",
        format!("{}:53", pod_ip(0, 1)),
        format!("{}:53", pod_ip(0, 2))
    ));
    s.push_str(&format!(
        "TCP  10.96.0.10:9153 rr\n  -> {:<29} Masq    1      0          0         \n  -> {:<29} Masq    1      0          0         \n",
        format!("{}:9153", pod_ip(0, 1)),
        format!("{}:9153", pod_ip(0, 2))
    ));
    s.push_str("TCP  10.96.86.1:443 rr\n");
    if metrics_ready {
        s.push_str(&format!("  -> {:<29} Masq    1      0          0         \n", format!("{}:4443", pod_ip(1, 1))));
    }
    s.push_str(&format!("TCP  10.103.52.17:80 rr\n  -> {:<29} Masq    1      0          0         \n", format!("{}:80", pod_ip(2, 1))));
    if lb {
        s.push_str(&format!(
            "TCP  192.168.1.200:80 rr\n  -> {:<29} Masq    1      0          0         \n",
            format!("{}:80", pod_ip(2, 1))
        ));
    }
    s.push_str(&format!(
        "UDP  10.96.0.10:53 rr\n  -> {:<29} Masq    1      0          0         \n  -> {:<29} Masq    1      0          0         \n",
        format!("{}:53", pod_ip(0, 1)),
        format!("{}:53", pod_ip(0, 2))
    ));
    s
}

fn kube_ipvs0(i: usize) -> String {
    // iproute2 5.5 `ip -d link show kube-ipvs0` (kube-proxy's dummy device).
    format!(
        "4: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default \n    link/ether 6e:2f:91:4a:0b:{i:02x} brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 0 maxmtu 0 \n    dummy addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 \n"
    )
}

fn serving_cert(n: &NodeConfig) -> String {
    // OpenSSL 1.1.1f `x509 -noout -subject -issuer -ext subjectAltName` on kubelet-server-current.pem.
    format!(
        "subject=O = system:nodes, CN = system:node:{}\nissuer=CN = kubernetes\nX509v3 Subject Alternative Name: \n    DNS:{}, IP Address:{}\n",
        n.name, n.name, n.ip
    )
}

const CERT_MISSING: &str = "Can't open /var/lib/kubelet/pki/kubelet-server-current.pem for reading, No such file or directory\n139872263566656:error:02001002:system library:fopen:No such file or directory:../crypto/bio/bss_file.c:69:fopen('/var/lib/kubelet/pki/kubelet-server-current.pem','r')\n139872263566656:error:2006D080:BIO routines:BIO_new_file:no such file:../crypto/bio/bss_file.c:76:\nunable to load certificate\n";

fn join_ok(cp: &NodeConfig) -> (String, String) {
    // kubeadm 1.23.6 `join -v=5`: klog lines on stderr, the summary on stdout.
    let stdout = "[preflight] Running pre-flight checks\n[preflight] Reading configuration from the cluster...\n[preflight] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'\n[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n[kubelet-start] Writing kubelet environment file with flags to file \"/var/lib/kubelet/kubeadm-flags.env\"\n[kubelet-start] Starting the kubelet\n[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap...\n\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n\n".to_string();
    let stderr = format!(
        "I0426 22:10:03.118530    2214 join.go:413] [preflight] found NodeName empty; using OS hostname as NodeName\nI0426 22:10:03.118912    2214 initconfiguration.go:117] detected and using CRI socket: /var/run/dockershim.sock\nI0426 22:10:03.119204    2214 preflight.go:92] [preflight] Running general checks\nI0426 22:10:03.174422    2214 token.go:80] [discovery] Created cluster-info discovery client, requesting info from \"{}:6443\"\nI0426 22:10:03.192345    2214 token.go:118] [discovery] Requesting info from \"{}:6443\" again to validate TLS against the pinned public key\nI0426 22:10:03.201447    2214 token.go:135] [discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned roots, will use API Server \"{}:6443\"\nI0426 22:10:03.201507    2214 discovery.go:52] [discovery] Using provided TLSBootstrapToken as authentication credentials for the join process\n",
        cp.ip, cp.ip, cp.ip
    );
    (stdout, stderr)
}

fn join_expired(cp: &NodeConfig) -> String {
    // kubeadm 1.23.6 `join -v=5` with a token past its 24 h TTL. kubeadm 1.19+ (token.go,
    // getClusterInfo): the cluster-info ConfigMap carries no JWS signature for the token id, so
    // discovery retries (klog V(1) lines) until its timeout and fails with `could not find a JWS
    // signature in the cluster-info ConfigMap for token ID "abcdef"`. Layout of the retry and
    // final lines: tests/fixtures/real/kubeadm-join/kind-issue-2798-v1-24-jws-signature-missing-verbose.txt
    // (same code in 1.23 and 1.24); the stack trace that follows at -v=5 is not reproduced.
    format!(
        "I0501 11:58:41.502114    3120 join.go:413] [preflight] found NodeName empty; using OS hostname as NodeName\nI0501 11:58:41.502390    3120 initconfiguration.go:117] detected and using CRI socket: /var/run/dockershim.sock\nI0501 11:58:41.502651    3120 preflight.go:92] [preflight] Running general checks\nI0501 11:58:41.560213    3120 token.go:80] [discovery] Created cluster-info discovery client, requesting info from \"{ip}:6443\"\nI0501 11:58:41.571885    3120 token.go:223] [discovery] The cluster-info ConfigMap does not yet contain a JWS signature for token ID \"abcdef\", will try again\nI0501 11:58:47.412650    3120 token.go:223] [discovery] The cluster-info ConfigMap does not yet contain a JWS signature for token ID \"abcdef\", will try again\nI0501 12:03:41.560997    3120 token.go:223] [discovery] The cluster-info ConfigMap does not yet contain a JWS signature for token ID \"abcdef\", will try again\ncould not find a JWS signature in the cluster-info ConfigMap for token ID \"abcdef\"\n",
        ip = cp.ip
    )
}

// ---- Kubernetes objects (kubectl 1.23.6 `-o json` shapes, trimmed of managedFields) ----

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": "", "selfLink": ""}})
}

fn node_obj(n: &NodeConfig, i: usize, ready: bool) -> Value {
    let cp = i == 0;
    let mut labels = json!({"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux"});
    if cp {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node-role.kubernetes.io/master"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
    }
    let mut taints = Vec::new();
    if cp {
        taints.push(json!({"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}));
    }
    let hb = if ready { "2022-05-01T11:59:48Z" } else { "2022-05-01T11:41:02Z" };
    let (rs, reason, msg) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status. AppArmor enabled")
    } else {
        taints.push(json!({"effect": "NoSchedule", "key": "node.kubernetes.io/unreachable", "timeAdded": "2022-05-01T11:41:47Z"}));
        taints.push(json!({"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "timeAdded": "2022-05-01T11:41:52Z"}));
        ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    };
    let pressure = |t: &str, r: &str, m: &str| {
        if ready {
            json!({"lastHeartbeatTime": hb, "lastTransitionTime": "2022-04-26T22:10:05Z", "message": m, "reason": r, "status": "False", "type": t})
        } else {
            json!({"lastHeartbeatTime": hb, "lastTransitionTime": "2022-05-01T11:41:47Z", "message": "Kubelet stopped posting node status.", "reason": "NodeStatusUnknown", "status": "Unknown", "type": t})
        }
    };
    let mut node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "/var/run/dockershim.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "projectcalico.org/IPv4Address": format!("{}/24", n.ip),
                "projectcalico.org/IPv4IPIPTunnelAddr": BLOCKS[i],
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"
            },
            "creationTimestamp": if cp { "2022-04-26T22:08:11Z" } else { "2022-04-26T22:10:04Z" },
            "labels": labels, "name": n.name, "resourceVersion": format!("{}", 184_220 + i * 17),
            "uid": format!("9f6c1e2a-0b3d-4e5f-8a7b-6c5d4e3f2a1{i}")
        },
        "spec": {"podCIDR": PODCIDRS[i], "podCIDRs": [PODCIDRS[i]]},
        "status": {
            "addresses": [{"address": n.ip.to_string(), "type": "InternalIP"}, {"address": n.name, "type": "Hostname"}],
            "allocatable": {"cpu": "2", "ephemeral-storage": "18566299208", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "1932028Ki", "pods": "110"},
            "capacity": {"cpu": "2", "ephemeral-storage": "20145724Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "2034428Ki", "pods": "110"},
            "conditions": [
                {"lastHeartbeatTime": "2022-04-26T23:31:40Z", "lastTransitionTime": "2022-04-26T23:31:40Z", "message": "Calico is running on this node", "reason": "CalicoIsUp", "status": "False", "type": "NetworkUnavailable"},
                pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                {"lastHeartbeatTime": hb, "lastTransitionTime": if ready { "2022-04-26T23:31:52Z" } else { "2022-05-01T11:41:47Z" }, "message": msg, "reason": reason, "status": rs, "type": "Ready"}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": format!("c0ffee00-1d2e-4f3a-9b8c-7d6e5f4a3b2{i}"),
                "containerRuntimeVersion": "docker://20.10.14", "kernelVersion": "5.4.0-109-generic",
                "kubeProxyVersion": "v1.23.6", "kubeletVersion": "v1.23.6", "machineID": MACHINE_IDS[i],
                "operatingSystem": "linux", "osImage": "Ubuntu 20.04.3 LTS", "systemUUID": UUIDS[i]
            }
        }
    });
    if !taints.is_empty() {
        node["spec"]["taints"] = Value::Array(taints);
    }
    node
}

struct PodSpec<'a> {
    name: String,
    node: usize,
    image: &'a str,
    container: &'a str,
    host_network: bool,
    ip_n: u8,
    owner: (&'a str, &'a str),
    ready: bool,
}

fn pod_obj(nodes: &[NodeConfig], p: &PodSpec<'_>) -> Value {
    let host_ip = nodes[p.node].ip.to_string();
    let pod_ip = if p.host_network { host_ip.clone() } else { pod_ip(p.node, p.ip_n) };
    let rs = if p.ready { "True" } else { "False" };
    let mut ready_cond = json!({"lastProbeTime": null, "lastTransitionTime": "2022-04-30T10:52:07Z", "status": rs, "type": "Ready"});
    let mut cready = json!({"lastProbeTime": null, "lastTransitionTime": "2022-04-30T10:52:07Z", "status": rs, "type": "ContainersReady"});
    if !p.ready {
        for c in [&mut ready_cond, &mut cready] {
            c["message"] = json!(format!("containers with unready status: [{}]", p.container));
            c["reason"] = json!("ContainersNotReady");
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "creationTimestamp": "2022-04-30T10:51:40Z", "name": p.name, "namespace": "kube-system",
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": p.owner.0, "name": p.owner.1, "uid": "5b0d7e3c-8a1f-4c2e-9d6b-3f4a5e6d7c8b"}],
            "uid": format!("1e2d3c4b-5a69-4788-9a0b-{:012x}", p.name.len() * 7919 + p.node)
        },
        "spec": {
            "containers": [{"image": p.image, "imagePullPolicy": "IfNotPresent", "name": p.container}],
            "hostNetwork": p.host_network, "nodeName": nodes[p.node].name, "priorityClassName": "system-node-critical",
            "restartPolicy": "Always", "schedulerName": "default-scheduler"
        },
        "status": {
            "conditions": [
                {"lastProbeTime": null, "lastTransitionTime": "2022-04-30T10:51:40Z", "status": "True", "type": "Initialized"},
                ready_cond, cready,
                {"lastProbeTime": null, "lastTransitionTime": "2022-04-30T10:51:40Z", "status": "True", "type": "PodScheduled"}
            ],
            "containerStatuses": [{
                "containerID": format!("docker://{:064x}", p.name.len() * 104_729 + p.node * 7),
                "image": p.image, "imageID": format!("docker-pullable://{}", p.image),
                "lastState": {}, "name": p.container, "ready": p.ready, "restartCount": 1, "started": true,
                "state": {"running": {"startedAt": "2022-04-30T10:51:58Z"}}
            }],
            "hostIP": host_ip, "phase": "Running", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "qosClass": "Burstable", "startTime": "2022-04-30T10:51:40Z"
        }
    })
}

/// Which kube-system pods are unready in a scenario: (pod-name prefix, node index).
fn kube_system_pods(nodes: &[NodeConfig], unready: &[(&str, usize)]) -> Value {
    let n0 = &nodes[0].name;
    let mut specs = vec![
        PodSpec {
            name: "calico-kube-controllers-56fcbf9d6b-8jzkq".into(),
            node: 0,
            image: "docker.io/calico/kube-controllers:v3.22.2",
            container: "calico-kube-controllers",
            host_network: false,
            ip_n: 3,
            owner: ("ReplicaSet", "calico-kube-controllers-56fcbf9d6b"),
            ready: true,
        },
        PodSpec {
            name: "coredns-6d8c4cb4d-2xw9p".into(),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/coredns:v1.8.6",
            container: "coredns",
            host_network: false,
            ip_n: 1,
            owner: ("ReplicaSet", "coredns-6d8c4cb4d"),
            ready: true,
        },
        PodSpec {
            name: "coredns-6d8c4cb4d-h7l4s".into(),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/coredns:v1.8.6",
            container: "coredns",
            host_network: false,
            ip_n: 2,
            owner: ("ReplicaSet", "coredns-6d8c4cb4d"),
            ready: true,
        },
        PodSpec {
            name: format!("etcd-{n0}"),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/etcd:3.5.1-0",
            container: "etcd",
            host_network: true,
            ip_n: 0,
            owner: ("Node", n0),
            ready: true,
        },
        PodSpec {
            name: format!("kube-apiserver-{n0}"),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/kube-apiserver:v1.23.6",
            container: "kube-apiserver",
            host_network: true,
            ip_n: 0,
            owner: ("Node", n0),
            ready: true,
        },
        PodSpec {
            name: format!("kube-controller-manager-{n0}"),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/kube-controller-manager:v1.23.6",
            container: "kube-controller-manager",
            host_network: true,
            ip_n: 0,
            owner: ("Node", n0),
            ready: true,
        },
        PodSpec {
            name: format!("kube-scheduler-{n0}"),
            node: 0,
            image: "registry.aliyuncs.com/google_containers/kube-scheduler:v1.23.6",
            container: "kube-scheduler",
            host_network: true,
            ip_n: 0,
            owner: ("Node", n0),
            ready: true,
        },
        PodSpec {
            name: "metrics-server-7f9c6b8d5-q5kzt".into(),
            node: 1,
            image: "k8s.gcr.io/metrics-server/metrics-server:v0.6.1",
            container: "metrics-server",
            host_network: false,
            ip_n: 1,
            owner: ("ReplicaSet", "metrics-server-7f9c6b8d5"),
            ready: true,
        },
    ];
    // kube-proxy names from the guide's `kubectl get pods -n kube-system | grep proxy`.
    for (i, (cn, kp)) in
        [("calico-node-4xq8d", "kube-proxy-4cwj7"), ("calico-node-9bfl2", "kube-proxy-7pkpb"), ("calico-node-tz6mc", "kube-proxy-9r4hn")]
            .into_iter()
            .enumerate()
    {
        specs.push(PodSpec {
            name: cn.into(),
            node: i,
            image: "docker.io/calico/node:v3.22.2",
            container: "calico-node",
            host_network: true,
            ip_n: 0,
            owner: ("DaemonSet", "calico-node"),
            ready: true,
        });
        specs.push(PodSpec {
            name: kp.into(),
            node: i,
            image: "registry.aliyuncs.com/google_containers/kube-proxy:v1.23.6",
            container: "kube-proxy",
            host_network: true,
            ip_n: 0,
            owner: ("DaemonSet", "kube-proxy"),
            ready: true,
        });
    }
    for s in &mut specs {
        if unready.iter().any(|(prefix, node)| s.name.starts_with(prefix) && s.node == *node) {
            s.ready = false;
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    list(specs.iter().map(|s| pod_obj(nodes, s)).collect())
}

/// (CSR, certificate) PEMs per node, made by openssl (`tests/fixtures/pki/make.sh`): the CSR
/// and certificate bytes a real API server holds, base64-encoded whole in the bundle.
const SERVING_PKI: [(&str, &str); 3] = [
    (
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node0.csr.pem"),
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node0.crt.pem"),
    ),
    (
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node1.csr.pem"),
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node1.crt.pem"),
    ),
    (
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node2.csr.pem"),
        include_str!("../../../tests/fixtures/pki/ICE-k8s-machines-node2.crt.pem"),
    ),
];

fn b64(pem: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn csr_list(nodes: &[NodeConfig], approved: bool) -> Value {
    // The guide's CSR names; certificates.k8s.io/v1, approved by `kubectl certificate approve`.
    let names = ["csr-chg65", "csr-8982q", "csr-2nk7h"];
    let created = ["2022-04-30T10:39:41Z", "2022-04-30T10:39:52Z", "2022-04-30T10:34:17Z"];
    let items = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let status = if approved {
                json!({"certificate": b64(SERVING_PKI[i].1), "conditions": [{"lastTransitionTime": "2022-04-30T10:45:02Z", "lastUpdateTime": "2022-04-30T10:45:02Z", "message": "This CSR was approved by kubectl certificate approve.", "reason": "KubectlApprove", "status": "True", "type": "Approved"}]})
            } else {
                json!({})
            };
            json!({
                "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"creationTimestamp": created[i], "generateName": "csr-", "name": names[i], "resourceVersion": format!("{}", 120_031 + i * 5), "uid": format!("6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9{i}")},
                "spec": {
                    "groups": ["system:nodes", "system:authenticated"],
                    "request": b64(SERVING_PKI[i].0),
                    "signerName": "kubernetes.io/kubelet-serving",
                    "usages": ["digital signature", "key encipherment", "server auth"],
                    "username": format!("system:node:{}", n.name)
                },
                "status": status
            })
        })
        .collect();
    list(items)
}

fn apiservice(available: bool) -> Value {
    // apiregistration.k8s.io/v1 APIService from metrics-server 0.6.1 components.yaml.
    let cond = if available {
        json!({"lastTransitionTime": "2022-04-30T10:52:20Z", "message": "all checks passed", "reason": "Passed", "status": "True", "type": "Available"})
    } else {
        json!({"lastTransitionTime": "2022-04-30T10:48:02Z", "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"", "reason": "MissingEndpoints", "status": "False", "type": "Available"})
    };
    json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"labels": {"k8s-app": "metrics-server"}, "name": "v1beta1.metrics.k8s.io", "resourceVersion": "121307", "uid": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"},
        "spec": {"group": "metrics.k8s.io", "groupPriorityMinimum": 100, "insecureSkipTLSVerify": true, "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443}, "version": "v1beta1", "versionPriority": 100},
        "status": {"conditions": [cond]}
    })
}

fn node_metrics(nodes: &[NodeConfig], skip: Option<usize>) -> Value {
    // metrics-server 0.6.1 `/apis/metrics.k8s.io/v1beta1/nodes` (kube-apiserver prints it compact).
    let items: Vec<Value> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(i, n)| {
            json!({"metadata": {"name": n.name, "creationTimestamp": "2022-05-01T12:00:00Z", "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux"}},
                   "timestamp": "2022-05-01T11:59:51Z", "window": "10.026s", "usage": {"cpu": format!("{}m", [231, 97, 88][i]), "memory": format!("{}Ki", [1_243_812, 843_220, 791_004][i])}})
        })
        .collect();
    json!({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
}

fn kube_proxy_cm(mode: &str, strict_arp: bool) -> Value {
    // kubeadm 1.23.6's kube-proxy ConfigMap (KubeProxyConfiguration v1alpha1), after the guide's edits.
    let conf = format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nbindAddress: 0.0.0.0\nbindAddressHardFail: false\nclientConnection:\n  acceptContentTypes: \"\"\n  burst: 0\n  contentType: \"\"\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n  qps: 0\nclusterCIDR: 10.233.0.0/16\nconfigSyncPeriod: 0s\nconntrack:\n  maxPerCore: null\n  min: null\n  tcpCloseWaitTimeout: null\n  tcpEstablishedTimeout: null\ndetectLocalMode: \"\"\nenableProfiling: false\nhealthzBindAddress: \"\"\nhostnameOverride: \"\"\niptables:\n  masqueradeAll: false\n  masqueradeBit: null\n  minSyncPeriod: 0s\n  syncPeriod: 0s\nipvs:\n  excludeCIDRs: null\n  minSyncPeriod: 0s\n  scheduler: \"\"\n  strictARP: {strict_arp}\n  syncPeriod: 0s\n  tcpFinTimeout: 0s\n  tcpTimeout: 0s\n  udpTimeout: 0s\nkind: KubeProxyConfiguration\nmetricsBindAddress: \"\"\nmode: {mode}\nnodePortAddresses: null\noomScoreAdj: null\nportRange: \"\"\nshowHiddenMetricsForAlphaFeatures: \"\"\nudpIdleTimeout: 0s\nwinkernel:\n  enableDSR: false\n  networkName: \"\"\n  sourceVip: \"\""
    );
    json!({
        "apiVersion": "v1",
        "data": {
            "config.conf": conf,
            "kubeconfig.conf": "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: https://192.168.1.134:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
        },
        "kind": "ConfigMap",
        "metadata": {"annotations": {"kubeadm.kubernetes.io/component-config.hash": "sha256:5c1e5a2f0b7f3f4c2d9e8a6b1c0d3e2f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"}, "creationTimestamp": "2022-04-26T22:08:14Z", "labels": {"app": "kube-proxy"}, "name": "kube-proxy", "namespace": "kube-system", "resourceVersion": "118752", "uid": "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"}
    })
}

fn services(lb_ip: Option<&str>) -> Value {
    let svc = |ns: &str, name: &str, ty: &str, ip: &str, ports: Value, status: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2022-04-30T10:51:40Z"},
               "spec": {"clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": ports, "sessionAffinity": "None", "type": ty},
               "status": status})
    };
    let mut nginx = svc(
        "default",
        "nginx",
        "LoadBalancer",
        "10.103.52.17",
        json!([{"nodePort": 31380, "port": 80, "protocol": "TCP", "targetPort": 80}]),
        match lb_ip {
            Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip}]}}),
            None => json!({"loadBalancer": {}}),
        },
    );
    nginx["spec"]["externalTrafficPolicy"] = json!("Cluster");
    nginx["spec"]["allocateLoadBalancerNodePorts"] = json!(true);
    nginx["spec"]["selector"] = json!({"app": "nginx"});
    list(vec![
        svc(
            "default",
            "kubernetes",
            "ClusterIP",
            "10.96.0.1",
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]),
            json!({"loadBalancer": {}}),
        ),
        nginx,
        svc(
            "kube-system",
            "kube-dns",
            "ClusterIP",
            "10.96.0.10",
            json!([{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}, {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}, {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]),
            json!({"loadBalancer": {}}),
        ),
        svc(
            "kube-system",
            "metrics-server",
            "ClusterIP",
            "10.96.86.1",
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]),
            json!({"loadBalancer": {}}),
        ),
    ])
}

const VERSION: &str = "{\n  \"major\": \"1\",\n  \"minor\": \"23\",\n  \"gitVersion\": \"v1.23.6\",\n  \"gitCommit\": \"ad3338546da947756e8a88aa6822e9c11e7eac22\",\n  \"gitTreeState\": \"clean\",\n  \"buildDate\": \"2022-04-14T08:43:11Z\",\n  \"goVersion\": \"go1.17.9\",\n  \"compiler\": \"gc\",\n  \"platform\": \"linux/amd64\"\n}";

// ---- assembling bundles ----

const JOIN_HASH: &str = "sha256:0b9fdd0f4a6c8f2b1f7d5d3a2e6c9b8a7f1e0d4c3b2a19887766554433221100";

impl Bundle {
    fn set(&mut self, probe: &str, target: &Target, output: ExecOutput) {
        let catalog = ProbeCatalog::standard();
        let p = catalog.get(probe).unwrap_or_else(|| panic!("unknown probe {probe}"));
        let nodes = &self.header.nodes;
        let node = match target {
            Target::Node(n) => nodes.iter().find(|x| &x.name == n).expect("node"),
            Target::Cluster => &nodes[0],
        };
        let command = match p.script {
            crate::evidence::Script::StepOutput(_) => {
                let token = if output.success() { "7x2kq9.k8sguide2022tokn" } else { "abcdef.0123456789abcdef" };
                format!("kubeadm join {}:6443 --token {token} --discovery-token-ca-cert-hash {JOIN_HASH} -v=5", nodes[0].ip)
            }
            _ => {
                let ev = self.as_evidence();
                p.script_for(&ScriptContext { node, so_far: &ev }).unwrap_or_else(|| panic!("no script for {probe}"))
            }
        };
        self.facts.insert(
            (target.dir_name().to_string(), probe.to_string()),
            FactFile {
                probe: probe.into(),
                target: target.dir_name().into(),
                command,
                stdout: output.stdout,
                stderr: output.stderr,
                exit_status: output.exit_status,
                fetched_at: AT.into(),
            },
        );
    }

    fn remove(&mut self, probe: &str, target: &Target) {
        self.facts.remove(&(target.dir_name().to_string(), probe.to_string()));
    }

    fn node(&self, i: usize) -> Target {
        Target::Node(self.header.nodes[i].name.clone())
    }

    fn as_evidence(&self) -> Evidence {
        let mut ev = Evidence::new(self.header.clone());
        for f in self.facts.values() {
            ev.insert(Fact {
                probe: f.probe.clone(),
                target: Target::from_dir_name(&f.target),
                command: f.command.clone(),
                output: ExecOutput { stdout: f.stdout.clone(), stderr: f.stderr.clone(), exit_status: f.exit_status },
                fetched_at: f.fetched_at.clone(),
                origin: Origin::Recorded { bundle: self.name.into() },
            });
        }
        ev
    }
}

/// The healthy guide cluster.
pub(crate) fn healthy() -> Bundle {
    let c = cfg();
    let mut b = Bundle {
        name: "guide-healthy",
        story: "A healthy cluster built by the guide: three Ubuntu 20.04.3 nodes, kubeadm 1.23.6, Docker 20.10 with the systemd cgroup driver, calico 3.22.2 BGP mesh with IPIP, kube-proxy in IPVS mode with strictARP, serverTLSBootstrap with approved kubelet-serving CSRs, metrics-server 0.6.1, Helm 3.8.0, MetalLB 0.12.1 giving an nginx LoadBalancer Service 192.168.1.200.",
        differs: Vec::new(),
        header: EvidenceHeader::from_config(&c, "recorded fixture"),
        facts: BTreeMap::new(),
    };
    let nodes = c.nodes.clone();
    // tunl0 first: ipip-ping's script is generated from the other nodes' tunnel addresses.
    for i in 0..3 {
        b.set("tunl0", &b.node(i), ok(tunl0(i)));
    }
    for (i, n) in nodes.iter().enumerate() {
        let t = b.node(i);
        b.set("hostname", &t, ok(format!("{}\n", n.name)));
        b.set("product-uuid", &t, ok(format!("{}\n", UUIDS[i])));
        b.set("machine-id", &t, ok(format!("{}\n", MACHINE_IDS[i])));
        b.set("ip-link", &t, ok(ip_link(i)));
        b.set("ssh-hostkey", &t, ok(format!("256 {} root@{} (ED25519)\n", HOSTKEYS[i], n.name)));
        b.set("etc-hosts", &t, ok(etc_hosts(&nodes, i)));
        let others: Vec<&NodeConfig> = nodes.iter().filter(|o| o.name != n.name).collect();
        b.set("ping-peers", &t, ok(others.iter().map(|o| format!("{} ok\n", o.name)).collect::<String>()));
        b.set("swapon", &t, ok(""));
        b.set("proc-swaps", &t, ok("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"));
        b.set("fstab", &t, ok(FSTAB));
        b.set("lsmod", &t, ok(LSMOD));
        b.set("sysctl-net", &t, ok("net.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n"));
        b.set(
            "listen-6443",
            &t,
            ok(if i == 0 {
                "LISTEN 0      4096               *:6443             *:*    users:((\"kube-apiserver\",pid=1523,fd=7))\n"
            } else {
                ""
            }),
        );
        b.set("docker-info", &t, ok(docker_info("systemd")));
        b.set("kubelet-config", &t, ok(kubelet_config(true)));
        b.set("network-manager", &t, ok("is-active: inactive\nStatus: not-installed\n"));
        b.set("bgp-calicoctl", &t, ok(calicoctl(&nodes, i, &[])));
        b.set("ip-route", &t, ok(ip_route(&nodes, i, None)));
        let idx: Vec<usize> = (0..3).filter(|k| *k != i).collect();
        b.set("ipip-ping", &t, ok(idx.iter().map(|k| format!("{} {} ok\n", nodes[*k].name, BLOCKS[*k])).collect::<String>()));
        b.set("ipvsadm", &t, ok(ipvsadm(true, true)));
        b.set("kube-ipvs0", &t, ok(kube_ipvs0(i)));
        b.set("proxy-mode", &t, ok("ipvs"));
        b.set("kubelet-serving-cert", &t, ok(serving_cert(n)));
        if i > 0 {
            let (so, se) = join_ok(&nodes[0]);
            b.set("kubeadm-join", &t, ExecOutput { stdout: so, stderr: se, exit_status: 0 });
        }
    }
    let cp = b.node(0);
    b.set("helm-version", &cp, ok("v3.8.0+gd141386\n"));
    b.set("lb-http", &cp, ok("192.168.1.200 200\n"));
    let cl = Target::Cluster;
    b.set("k8s-version", &cl, ok(VERSION));
    b.set("k8s-nodes", &cl, ok(kubectl_json(&list(nodes.iter().enumerate().map(|(i, n)| node_obj(n, i, true)).collect()))));
    b.set("k8s-pods-kube-system", &cl, ok(kubectl_json(&kube_system_pods(&nodes, &[]))));
    b.set("k8s-csr", &cl, ok(kubectl_json(&csr_list(&nodes, true))));
    b.set("k8s-apiservice-metrics", &cl, ok(kubectl_json(&apiservice(true))));
    b.set("k8s-node-metrics", &cl, ok(serde_json::to_string(&node_metrics(&nodes, None)).expect("json")));
    b.set("k8s-kube-proxy-cm", &cl, ok(kubectl_json(&kube_proxy_cm("ipvs", true))));
    b.set("k8s-services", &cl, ok(kubectl_json(&services(Some("192.168.1.200")))));
    b
}

/// Every bundle: healthy, then one per fault.
pub(crate) fn all() -> Vec<Bundle> {
    let nodes = cfg().nodes;
    let mut out = vec![healthy()];

    let mut b = healthy();
    b.name = "bgp-peer-active";
    b.story = "The security group between node0 and node2 drops TCP 179 (guide pitfall 3): the BGP session node0↔node2 never establishes (node0 sees Connect, node2 sees Active), BIRD installs no tunl0 route between them, IPIP pings between them fail, and both calico-node pods are 0/1 Ready (their readiness probe includes `-bird-ready`).";
    b.differs = vec![
        "bgp-calicoctl (node0, node2)",
        "ip-route (node0, node2)",
        "ipip-ping (node0, node2)",
        "k8s-pods-kube-system (calico-node on node0 and node2 unready)",
    ];
    b.set("bgp-calicoctl", &b.node(0), ok(calicoctl(&nodes, 0, &[("up", "Established"), ("start", "Connect")])));
    b.set(
        "bgp-calicoctl",
        &b.node(2),
        ok(calicoctl(&nodes, 2, &[("start", "Active Socket: Connection timed out"), ("up", "Established")])),
    );
    b.set("ip-route", &b.node(0), ok(ip_route(&nodes, 0, Some(2))));
    b.set("ip-route", &b.node(2), ok(ip_route(&nodes, 2, Some(0))));
    b.set("ipip-ping", &b.node(0), ok(format!("{} {} ok\n{} {} fail\n", nodes[1].name, BLOCKS[1], nodes[2].name, BLOCKS[2])));
    b.set("ipip-ping", &b.node(2), ok(format!("{} {} fail\n{} {} ok\n", nodes[0].name, BLOCKS[0], nodes[1].name, BLOCKS[1])));
    b.set("k8s-pods-kube-system", &Target::Cluster, ok(kubectl_json(&kube_system_pods(&nodes, &[("calico-node", 0), ("calico-node", 2)]))));
    out.push(b);

    let mut b = healthy();
    b.name = "strictarp-false";
    b.story = "kube-proxy runs in IPVS mode but the ConfigMap still has `ipvs.strictARP: false` (the guide's MetalLB prerequisite skipped). The LoadBalancer IP still answers from the control plane; on the LAN every node would answer ARP for it (kubernetes#59976).";
    b.differs = vec!["k8s-kube-proxy-cm (ipvs.strictARP: false)"];
    b.set("k8s-kube-proxy-cm", &Target::Cluster, ok(kubectl_json(&kube_proxy_cm("ipvs", false))));
    out.push(b);

    let mut b = healthy();
    b.name = "csr-pending";
    b.story = "serverTLSBootstrap is on but nobody ran `kubectl certificate approve`: the three kubelet-serving CSRs stay Pending (the guide's `kubectl get csr` table), no kubelet has kubelet-server-current.pem, so metrics-server cannot scrape, stays 0/1 Ready, its APIService reports MissingEndpoints and node metrics are unavailable.";
    b.differs = vec![
        "k8s-csr (Pending)",
        "kubelet-serving-cert (all nodes: no file)",
        "k8s-pods-kube-system (metrics-server unready)",
        "k8s-apiservice-metrics (Available=False)",
        "k8s-node-metrics (ServiceUnavailable)",
        "ipvsadm (metrics-server service without real server)",
    ];
    b.set("k8s-csr", &Target::Cluster, ok(kubectl_json(&csr_list(&nodes, false))));
    for i in 0..3 {
        b.set("kubelet-serving-cert", &b.node(i), err(1, "", CERT_MISSING));
        b.set("ipvsadm", &b.node(i), ok(ipvsadm(true, false)));
    }
    b.set("k8s-pods-kube-system", &Target::Cluster, ok(kubectl_json(&kube_system_pods(&nodes, &[("metrics-server", 1)]))));
    b.set("k8s-apiservice-metrics", &Target::Cluster, ok(kubectl_json(&apiservice(false))));
    b.set(
        "k8s-node-metrics",
        &Target::Cluster,
        err(1, "", "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n"),
    );
    out.push(b);

    let mut b = healthy();
    b.name = "lb-no-ip";
    b.story = "MetalLB is installed but its address-pool ConfigMap was never applied (or the 0.13+ CRDs were expected): the nginx LoadBalancer Service stays `EXTERNAL-IP <pending>`, so there is no IP for IPVS to serve or for curl to probe.";
    b.differs = vec!["k8s-services (no ingress)", "ipvsadm (no 192.168.1.200:80)", "lb-http (no IP to probe)"];
    b.set("k8s-services", &Target::Cluster, ok(kubectl_json(&services(None))));
    for i in 0..3 {
        b.set("ipvsadm", &b.node(i), ok(ipvsadm(false, true)));
    }
    b.set("lb-http", &b.node(0), ok(""));
    out.push(b);

    let mut b = healthy();
    b.name = "node-notready";
    b.story = "node2's kubelet stopped (the JCloud network dying until reboot, guide pitfall 4): the node controller marks it Ready=Unknown with unreachable taints, its calico-node and kube-proxy pods turn unready, and metrics-server has no metrics for it.";
    b.differs = vec!["k8s-nodes (node2 Ready=Unknown)", "k8s-pods-kube-system (pods on node2 unready)", "k8s-node-metrics (node2 absent)"];
    b.set("k8s-nodes", &Target::Cluster, ok(kubectl_json(&list(nodes.iter().enumerate().map(|(i, n)| node_obj(n, i, i != 2)).collect()))));
    b.set("k8s-pods-kube-system", &Target::Cluster, ok(kubectl_json(&kube_system_pods(&nodes, &[("calico-node", 2), ("kube-proxy", 2)]))));
    b.set("k8s-node-metrics", &Target::Cluster, ok(serde_json::to_string(&node_metrics(&nodes, Some(2))).expect("json")));
    out.push(b);

    let mut b = healthy();
    b.name = "kube-proxy-iptables";
    b.story = "The guide's 开启IPVS step was skipped: the kube-proxy ConfigMap keeps kubeadm's `mode: \"\"` (iptables), /proxyMode answers iptables, kube-proxy cleaned the IPVS table and removed kube-ipvs0.";
    b.differs = vec!["k8s-kube-proxy-cm (mode: \"\")", "proxy-mode (iptables)", "ipvsadm (empty)", "kube-ipvs0 (absent)"];
    b.set("k8s-kube-proxy-cm", &Target::Cluster, ok(kubectl_json(&kube_proxy_cm("\"\"", true))));
    for i in 0..3 {
        let t = b.node(i);
        b.set("proxy-mode", &t, ok("iptables"));
        b.set("ipvsadm", &t, ok("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"));
        b.set("kube-ipvs0", &t, err(1, "", "Device \"kube-ipvs0\" does not exist.\n"));
    }
    out.push(b);

    let mut b = healthy();
    b.name = "join-token-expired";
    b.story = "node1 ran `kubeadm join` more than 24 h after `kubeadm init` (guide: token会在24小时后过期): discovery rejects the expired token and the run stops there. Host facts exist; the cluster was never completed, so no Kubernetes facts were gathered and node2 never tried to join.";
    b.differs = vec![
        "kubeadm-join (node1 failed; node2 absent)",
        "kubelet-config (node1, node2: no file yet)",
        "every calico, IPVS, TLS, add-on and cluster fact (absent: the run stopped at the join)",
    ];
    let keep = [
        "hostname",
        "product-uuid",
        "machine-id",
        "ip-link",
        "ssh-hostkey",
        "etc-hosts",
        "ping-peers",
        "swapon",
        "proc-swaps",
        "fstab",
        "lsmod",
        "sysctl-net",
        "listen-6443",
        "docker-info",
        "kubelet-config",
        "network-manager",
        "kubeadm-join",
    ];
    b.facts.retain(|(_, probe), _| keep.contains(&probe.as_str()));
    b.set("kubeadm-join", &b.node(1), err(1, "[preflight] Running pre-flight checks\n", join_expired(&nodes[0])));
    b.remove("kubeadm-join", &b.node(2));
    for i in 1..3 {
        b.set("kubelet-config", &b.node(i), err(1, "", "cat: /var/lib/kubelet/config.yaml: No such file or directory\n"));
    }
    // Before calico, no node has tunl0 or cali* links.
    for i in 0..3 {
        let t = b.node(i);
        let links: String = ip_link(i)
            .lines()
            .filter(|l| !l.contains("tunl0") && !l.contains("cali") && !l.contains("kube-ipvs0"))
            .map(|l| format!("{l}\n"))
            .collect();
        b.set("ip-link", &t, ok(links));
    }
    b.differs.push("ip-link (no tunl0, cali*, kube-ipvs0 yet)");
    out.push(b);
    out
}

fn readme(b: &Bundle) -> String {
    let catalog = ProbeCatalog::standard();
    let mut s = format!("# Evidence bundle `{}`\n\n{}\n\n", b.name, b.story);
    s.push_str("Generated by `harness/src/checks/fixtures.rs` (run `KUBELAB_REGEN_FIXTURES=1 cargo test -p kubelab --lib fixtures` to rewrite; a test keeps the files byte-identical to the generator). The outputs are synthesised in the real tools' formats from the guide's nodes, addresses and versions — they were not captured from a live cluster.\n\n");
    if b.differs.is_empty() {
        s.push_str("This is the baseline every fault bundle is derived from.\n\n");
    } else {
        s.push_str("Differs from `guide-healthy` only in:\n\n");
        for d in &b.differs {
            s.push_str(&format!("- {d}\n"));
        }
        s.push('\n');
    }
    s.push_str("## Formats\n\n| probe | format | real capture whose layout it follows (tests/fixtures/real/) |\n|---|---|---|\n");
    let mut seen: Vec<&str> = b.facts.keys().map(|(_, p)| p.as_str()).collect();
    seen.sort();
    seen.dedup();
    for p in seen {
        let fmt = catalog.get(p).map(|x| x.format).unwrap_or("?");
        let shape = super::shapes::shape(b.name, p).unwrap_or("?");
        s.push_str(&format!("| `{p}` | {} | {} |\n", fmt.replace('|', "\\|"), shape.replace('|', "\\|")));
    }
    s
}

/// Writes `b` under `root/<name>/`.
pub(crate) fn write(b: &Bundle, root: &Path) -> std::io::Result<()> {
    let dir = root.join(b.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let catalog = ProbeCatalog::standard();
    let mut provenance = BTreeMap::new();
    for f in b.facts.values() {
        let target = Target::from_dir_name(&f.target);
        let rel = fact_path(&target, &f.probe);
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent"))?;
        let mut text = serde_json::to_string_pretty(f).expect("json");
        text.push('\n');
        std::fs::write(&path, text)?;
        let fmt = catalog.get(&f.probe).map(|p| p.format).unwrap_or("?");
        let shape = super::shapes::shape(b.name, &f.probe).unwrap_or("?");
        provenance.insert(
            rel,
            format!(
                "recorded fixture (synthesised, not captured); format: {fmt}; layout follows the real capture tests/fixtures/real/{shape}"
            ),
        );
    }
    let manifest = Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        lab: b.header.lab.clone(),
        profile: b.header.profile,
        nodes: b.header.nodes.clone(),
        created_at: AT.into(),
        source: format!(
            "recorded fixture `{}` generated by harness/src/checks/fixtures.rs after the guide; not captured from a live cluster",
            b.name
        ),
        expect: b.header.expect.clone(),
        provenance,
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("json");
    text.push('\n');
    std::fs::write(dir.join("manifest.json"), text)?;
    std::fs::write(dir.join("README.md"), readme(b))
}
