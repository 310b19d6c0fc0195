//! The `egress` probe's output: one section per download, each the command after a `$ ` line,
//! the tool's own output (curl 7.88 with `-sS -w 'http %{http_code} %{size_download} bytes\n'`,
//! `docker pull` of Docker 20.10), then `exit <status>`; and the router's floating IPs as
//! nftables 1.0 prints them (`nft -j list table`). Shapes from captures on kubelab's offline lab
//! (`tests/fixtures/real/egress/`) and this host's nft 1.0.6.

use std::net::Ipv4Addr;

use super::ParseError;

/// One command of the probe and what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// The command line (after `$ `).
    pub command: String,
    /// Its output lines (stdout and stderr interleaved, as a terminal shows them).
    pub output: Vec<String>,
    /// Its exit status.
    pub exit: i32,
}

impl Download {
    /// The first line that reads as the tool's error message (`curl: (7) …`,
    /// `Error response from daemon: …`), else the last output line.
    pub fn error_line(&self) -> &str {
        self.output
            .iter()
            .map(String::as_str)
            .find(|l| l.starts_with("curl: (") || l.starts_with("Error") || l.contains("error"))
            .or_else(|| self.output.iter().rev().map(String::as_str).find(|l| !l.trim().is_empty()))
            .unwrap_or("(no output)")
    }

    /// curl's `http <code> <bytes> bytes` line: (status, bytes).
    pub fn http_status(&self) -> Option<(u16, u64)> {
        self.output.iter().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["http", code, bytes, "bytes"] => Some((code.parse().ok()?, bytes.parse().ok()?)),
                _ => None,
            }
        })
    }

    /// docker pull's closing `Status: …` line.
    pub fn pull_status(&self) -> Option<&str> {
        self.output.iter().map(String::as_str).find_map(|l| l.strip_prefix("Status: "))
    }
}

/// Parses the `egress` probe output into its downloads.
pub fn parse_egress(text: &str) -> Result<Vec<Download>, ParseError> {
    const WHAT: &str = "egress (kubelab: `$ <command>`, its output, `exit <status>`)";
    let mut out = Vec::new();
    let mut cur: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            if let Some((c, _)) = cur.take() {
                return Err(ParseError::at(WHAT, line, format!("`{c}` has no `exit <status>` line")));
            }
            cur = Some((cmd.trim().to_string(), Vec::new()));
        } else if let Some(status) = line.strip_prefix("exit ").and_then(|s| s.trim().parse::<i32>().ok())
            && cur.is_some()
        {
            let (command, output) = cur.take().expect("checked");
            out.push(Download { command, output, exit: status });
        } else if let Some((_, o)) = cur.as_mut() {
            o.push(line.to_string());
        } else if !line.trim().is_empty() {
            return Err(ParseError::at(WHAT, line, "output before the first `$ <command>` line"));
        }
    }
    if let Some((c, _)) = cur {
        return Err(ParseError::new(WHAT, format!("`{c}` has no `exit <status>` line (output cut short?)")));
    }
    if out.is_empty() {
        return Err(ParseError::new(WHAT, "no `$ <command>` section"));
    }
    Ok(out)
}

/// One floating IP of the router: the node address it belongs to and the outside address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIp {
    /// The node's lab address (`ip saddr` of the SNAT rule).
    pub node: Ipv4Addr,
    /// Its floating IP (`snat to`).
    pub floating: Ipv4Addr,
}

/// The SNAT rules of the router's table from `nft -j list table ip <table>` (nftables 1.0 JSON
/// schema 1): one [`FloatingIp`] per rule of the `postrouting` chain with an `ip saddr` match
/// and a `snat`.
pub fn parse_nft_floating_ips(json: &str) -> Result<Vec<FloatingIp>, ParseError> {
    const WHAT: &str = "nft -j list table";
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| ParseError::new(WHAT, e.to_string()))?;
    let items = v.get("nftables").and_then(|n| n.as_array()).ok_or_else(|| ParseError::new(WHAT, "no `nftables` array"))?;
    let mut out = Vec::new();
    for rule in items.iter().filter_map(|i| i.get("rule")) {
        if rule.get("chain").and_then(|c| c.as_str()) != Some("postrouting") {
            continue;
        }
        let exprs = rule.get("expr").and_then(|e| e.as_array()).map(Vec::as_slice).unwrap_or_default();
        let saddr = exprs.iter().find_map(|e| {
            let m = e.get("match")?;
            (m.pointer("/left/payload/field")?.as_str()? == "saddr").then(|| m.get("right")?.as_str()?.parse().ok())?
        });
        let snat = exprs.iter().find_map(|e| e.pointer("/snat/addr")?.as_str()?.parse().ok());
        if let (Some(node), Some(floating)) = (saddr, snat) {
            out.push(FloatingIp { node, floating });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// curl 7.88.1 on this host (Debian 12, the nodes' release) against the outside's HTTP
    /// server, then against a closed port.
    const CURL: &str = "$ curl -sS -o /dev/null -w \"http %{http_code} %{size_download} bytes\\n\" --connect-timeout 5 -m 30 http://203.0.113.2:8080/kubelab-outside.txt\nhttp 200 3 bytes\nexit 0\n$ curl -sS -o /dev/null -w \"http %{http_code} %{size_download} bytes\\n\" --connect-timeout 5 -m 30 http://203.0.113.2:8081/f.txt\ncurl: (7) Failed to connect to 203.0.113.2 port 8081 after 0 ms: Couldn't connect to server\nhttp 000 0 bytes\nexit 7\n";

    #[test]
    fn sections_are_read_with_their_status() {
        let d = parse_egress(CURL).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].exit, d[0].http_status()), (0, Some((200, 3))));
        assert_eq!((d[1].exit, d[1].http_status()), (7, Some((0, 0))));
        assert!(d[1].error_line().starts_with("curl: (7) Failed to connect to 203.0.113.2 port 8081"));
        assert!(parse_egress("$ curl x\nhttp 200 3 bytes\n").unwrap_err().to_string().contains("no `exit <status>` line"));
        assert!(parse_egress("hello\n").is_err());
        assert!(parse_egress("").is_err());
    }

    #[test]
    fn floating_ips_are_read_from_nft_json() {
        // `nft -j list table ip kubelab_outside` (nftables 1.0.6, this host), node1's NAT removed;
        // trimmed to the metainfo, one prerouting rule and the two postrouting rules.
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "kubelab_outside", "handle": 2}}, {"rule": {"family": "ip", "table": "kubelab_outside", "chain": "prerouting", "handle": 4, "comment": "floating IP of ICE-k8s-machines-node0", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "out0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "203.0.113.134"}}, {"dnat": {"addr": "192.168.1.134"}}]}}, {"rule": {"family": "ip", "table": "kubelab_outside", "chain": "postrouting", "handle": 6, "comment": "floating IP of ICE-k8s-machines-node0", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "out0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "192.168.1.134"}}, {"snat": {"addr": "203.0.113.134"}}]}}, {"rule": {"family": "ip", "table": "kubelab_outside", "chain": "postrouting", "handle": 7, "comment": "floating IP of ICE-k8s-machines-node2", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "out0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "192.168.1.136"}}, {"snat": {"addr": "203.0.113.136"}}]}}]}"#;
        let f = parse_nft_floating_ips(j).unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            f,
            vec![
                FloatingIp { node: ip("192.168.1.134"), floating: ip("203.0.113.134") },
                FloatingIp { node: ip("192.168.1.136"), floating: ip("203.0.113.136") }
            ]
        );
        assert!(parse_nft_floating_ips("table ip x {}").is_err());
    }
}
