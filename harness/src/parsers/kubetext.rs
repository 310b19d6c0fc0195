//! kubectl objects in the forms users paste besides `-o json`: `-o yaml` (whole or a
//! fragment), `kubectl describe`, `grep` excerpts and the default tables (`get nodes`, `get pods`,
//! `get csr`, `get svc`, `top nodes`, `get apiservices`). Typed, owned rows for the checks; each
//! reader takes JSON first when the text is JSON, read as the k8s-openapi object. Main functions: [`json_in`], [`table_in`],
//! [`conditions_in`].

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use serde_json::Value;

use super::ParseError;

/// The JSON document in `text`: the whole text, or from the first line that opens an object
/// (kubectl may print warnings before it). `None` when there is none.
pub fn json_in(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    // Unindented: a `{` inside YAML (last-applied-configuration) is not the document.
    let start = text.lines().position(|l| l.starts_with('{'))?;
    let rest: String = text.lines().skip(start).collect::<Vec<_>>().join("\n");
    let mut de = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
    de.next()?.ok()
}

/// A klog line (`W0908 14:58:55.031967   33507 top_node.go:119] ...`).
pub fn is_klog(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.len() > 5 && matches!(b[0], b'I' | b'W' | b'E' | b'F') && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b' '
}

/// A kubectl table: header cells and rows split on whitespace (kubectl's columns hold no spaces
/// up to the ones the checks read; later cells may).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextTable {
    /// Header words.
    pub header: Vec<String>,
    /// Rows (whitespace-split tokens).
    pub rows: Vec<Vec<String>>,
    /// Lines outside any table (not klog warnings or `watch` banners), verbatim.
    pub unread: Vec<String>,
}

impl TextTable {
    /// Index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
    /// The cell of `row` in column `name` (tokens are positional up to the first multi-word column).
    pub fn cell<'a>(&self, row: &'a [String], name: &str) -> Option<&'a str> {
        row.get(self.col(name)?).map(String::as_str)
    }
}

/// The table(s) in `text` whose header holds every column of `required` (several tables, e.g.
/// `watch` repeats, are concatenated). `None` when no such header exists.
pub fn table_in(text: &str, required: &[&str]) -> Option<TextTable> {
    let mut t = TextTable::default();
    let mut in_table = false;
    for line in text.lines() {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if words.is_empty() {
            continue;
        }
        if required.iter().all(|r| words.iter().any(|w| w == r)) {
            t.header = words;
            in_table = true;
            continue;
        }
        if is_klog(line) || line.trim_start().starts_with("Every ") || line.trim_start().starts_with("Warning:") {
            continue;
        }
        if in_table && words.len() >= required.len().min(t.header.len()) {
            t.rows.push(words);
        } else {
            t.unread.push(line.trim().to_string());
        }
    }
    (!t.header.is_empty()).then_some(t)
}

/// One `status.conditions[]` entry, from JSON, YAML or `kubectl describe`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    /// `type`.
    pub kind: String,
    /// `status` (`True`, `False`, `Unknown`).
    pub status: String,
    /// `reason`.
    pub reason: String,
    /// `message`.
    pub message: String,
}

fn yaml_key(k: &str) -> Option<String> {
    let k = k.trim();
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') && k.split(' ').count() <= 4)
        .then(|| k.replace(' ', "").to_ascii_lowercase())
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// The conditions in a YAML (`- lastTransitionTime: ...` items) or `describe` (`Conditions:` with
/// `Last Transition Time:` ... `Type:`) rendering; wrapped YAML values are joined back.
pub fn conditions_in(text: &str) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut cur = Condition::default();
    let mut any = false;
    let mut last_key = String::new();
    let flush = |cur: &mut Condition, any: &mut bool, out: &mut Vec<Condition>| {
        if *any {
            out.push(std::mem::take(cur));
        }
        *any = false;
    };
    for line in text.lines() {
        let t = line.trim();
        let (item, body) = match t.strip_prefix("- ") {
            Some(b) => (true, b),
            None => (false, t),
        };
        let Some((k, v)) = body.split_once(':').and_then(|(k, v)| Some((yaml_key(k)?, v))) else {
            // A wrapped value continues the previous key.
            if any && !t.is_empty() && matches!(last_key.as_str(), "message" | "reason") {
                let m = if last_key == "message" { &mut cur.message } else { &mut cur.reason };
                m.push(' ');
                m.push_str(t.trim_end_matches('\''));
            }
            continue;
        };
        if item || k == "lasttransitiontime" && any {
            flush(&mut cur, &mut any, &mut out);
        }
        let v = unquote(v);
        match k.as_str() {
            "type" => cur.kind = v,
            "status" if !v.is_empty() => cur.status = v,
            "reason" => cur.reason = v,
            "message" => cur.message = v,
            "lasttransitiontime" | "lastupdatetime" => {}
            _ => {
                last_key = k;
                continue;
            }
        }
        any = true;
        last_key = k;
    }
    flush(&mut cur, &mut any, &mut out);
    out.into_iter().filter(|c| !c.kind.is_empty()).collect()
}

/// The first error kubectl or a component reports (`error: ...`, `Error from server (...)`,
/// `The connection to the server ... was refused`, `Unable to connect to the server`, a klog `E`
/// line), from its marker on so a log prefix (`[2021-05-08 12:20:58] `, `node2: `) does not hide it.
pub fn error_line(text: &str) -> Option<&str> {
    const MARKERS: [&str; 5] =
        ["Error from server", "The connection to the server", "Unable to connect to the server", "error: ", "Error: "];
    text.lines().map(str::trim).find_map(|l| {
        // A klog error, possibly behind a log collector's prefix (`Mon, Mar 27 ... | E0327 ...`).
        let klog_e = l.match_indices('E').map(|(i, _)| i).find(|&i| (i == 0 || l.as_bytes()[i - 1] == b' ') && is_klog(&l[i..]));
        if let Some(i) = klog_e {
            return Some(&l[i..]);
        }
        MARKERS.iter().find_map(|m| l.find(m).map(|i| &l[i..]))
    })
}

/// A node from `kubectl get nodes` (JSON or table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// Name.
    pub name: String,
    /// Ready condition status (`True`/`False`/`Unknown`), from the table's STATUS.
    pub ready: String,
    /// Ready message (JSON) or the table STATUS.
    pub detail: String,
    /// kubelet version, when shown.
    pub kubelet_version: Option<String>,
}

/// Nodes from `kubectl get nodes` as JSON, a `List`/single `Node`, or the table (any kubectl
/// release: with or without ROLES / -o wide columns).
pub fn node_rows(json: Option<&Value>, text: &str) -> Result<Vec<NodeRow>, ParseError> {
    const WHAT: &str = "kubectl get nodes";
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        let nodes: Vec<Node> = match v.get("items").and_then(Value::as_array) {
            Some(a) => super::items_as(WHAT, a.iter())?,
            None if v.get("kind").and_then(Value::as_str) == Some("Node") => vec![super::typed(WHAT, v)?],
            None => return Err(ParseError::at(WHAT, text.lines().next().unwrap_or(""), "not a Node or List of Nodes")),
        };
        return Ok(nodes
            .iter()
            .map(super::node_summary)
            .map(|n| NodeRow {
                name: n.name.into(),
                ready: n.ready.unwrap_or("absent").into(),
                detail: n.ready_message.into(),
                kubelet_version: n.kubelet_version.map(String::from),
            })
            .collect());
    }
    let t = table_in(text, &["NAME", "STATUS"]).ok_or_else(|| first_line_error(WHAT, text))?;
    let mut out: Vec<NodeRow> = Vec::new();
    for r in &t.rows {
        let (Some(name), Some(status)) = (t.cell(r, "NAME"), t.cell(r, "STATUS")) else { continue };
        let ready = if status.split(',').any(|s| s == "Ready") {
            "True"
        } else if status.split(',').any(|s| s == "NotReady") {
            "False"
        } else {
            "Unknown"
        };
        let row = NodeRow {
            name: name.into(),
            ready: ready.into(),
            detail: status.into(),
            kubelet_version: t.cell(r, "VERSION").map(String::from),
        };
        // `watch` repeats rows: the last one is current.
        match out.iter_mut().find(|n| n.name == row.name) {
            Some(n) => *n = row,
            None => out.push(row),
        }
    }
    Ok(out)
}

fn first_line_error(what: &'static str, text: &str) -> ParseError {
    let l = error_line(text).or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("(empty output)");
    ParseError::at(what, l, format!("neither JSON nor a `{what}` table"))
}

/// A pod from `kubectl get pods` (JSON or table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRow {
    /// Namespace, when shown.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Phase (JSON) or the table STATUS (`Running`, `Pending`, `CrashLoopBackOff`, ...).
    pub status: String,
    /// Ready containers / all.
    pub ready: (usize, usize),
    /// Pod Ready condition true (JSON) or all containers ready (table).
    pub is_ready: bool,
    /// Node, when shown.
    pub node: String,
}

/// Pods from `kubectl get pods` as JSON or the table (`-A` / `-o wide` included).
pub fn pod_rows(json: Option<&Value>, text: &str) -> Result<Vec<PodRow>, ParseError> {
    const WHAT: &str = "kubectl get pods";
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        return Ok(super::pods(v)?
            .iter()
            .map(super::pod_summary)
            .map(|p| PodRow {
                namespace: None,
                name: p.name.into(),
                status: p.phase.into(),
                ready: p.containers_ready,
                is_ready: p.ready,
                node: p.node.into(),
            })
            .collect());
    }
    let t = table_in(text, &["NAME", "READY", "STATUS"]).ok_or_else(|| first_line_error(WHAT, text))?;
    let mut out = Vec::new();
    for r in &t.rows {
        let (Some(name), Some(ready), Some(status)) = (t.cell(r, "NAME"), t.cell(r, "READY"), t.cell(r, "STATUS")) else { continue };
        let Some((a, b)) = ready.split_once('/').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))) else {
            return Err(ParseError::at(WHAT, &r.join(" "), format!("READY `{ready}` is not n/m")));
        };
        out.push(PodRow {
            namespace: t.cell(r, "NAMESPACE").map(String::from),
            name: name.into(),
            status: status.into(),
            ready: (a, b),
            is_ready: a == b && b > 0,
            node: t.cell(r, "NODE").unwrap_or("").into(),
        });
    }
    Ok(out)
}

/// A CSR from `kubectl get csr` (JSON, YAML or table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrRow {
    /// Name.
    pub name: String,
    /// Signer (`kubernetes.io/kubelet-serving`), empty in pre-1.18 tables.
    pub signer: String,
    /// Requestor / username.
    pub requestor: String,
    /// CONDITION as the table prints it: `Pending`, `Approved,Issued`, `Approved,Failed`, `Denied`.
    pub condition: String,
    /// Reason of a Failed/Denied condition, when shown.
    pub reason: String,
}

/// CSRs from `kubectl get csr` output in any of its forms.
pub fn csr_rows(json: Option<&Value>, text: &str) -> Result<Vec<CsrRow>, ParseError> {
    const WHAT: &str = "kubectl get csr";
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        let csrs: Vec<CertificateSigningRequest> = match v.get("items").and_then(Value::as_array) {
            Some(a) => super::items_as(WHAT, a.iter())?,
            None => vec![super::typed(WHAT, v)?],
        };
        return Ok(csrs
            .iter()
            .map(super::csr_summary)
            .map(|c| CsrRow {
                name: c.name.into(),
                signer: c.signer.into(),
                requestor: c.username.into(),
                condition: match c.condition {
                    super::CsrCondition::Pending => "Pending".into(),
                    super::CsrCondition::Approved if c.issued => "Approved,Issued".into(),
                    super::CsrCondition::Approved => "Approved".into(),
                    super::CsrCondition::Denied => "Denied".into(),
                    super::CsrCondition::Failed => "Approved,Failed".into(),
                },
                reason: String::new(),
            })
            .collect());
    }
    if let Some(t) = table_in(text, &["NAME", "CONDITION"]) {
        return Ok(t
            .rows
            .iter()
            .map(|r| CsrRow {
                name: r[0].clone(),
                signer: t.cell(r, "SIGNERNAME").unwrap_or("").into(),
                requestor: t.cell(r, "REQUESTOR").unwrap_or("").into(),
                condition: r.last().cloned().unwrap_or_default(),
                reason: String::new(),
            })
            .collect());
    }
    // Old tables pasted without their header: `csr-zg61h   12m   kubelet-bootstrap   Pending`.
    let rows: Vec<CsrRow> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 3 && f[0].starts_with("csr-"))
        .map(|f| CsrRow {
            name: f[0].into(),
            signer: String::new(),
            requestor: f[f.len() - 2].into(),
            condition: f[f.len() - 1].into(),
            reason: String::new(),
        })
        .collect();
    if !rows.is_empty() {
        return Ok(rows);
    }
    // YAML (`-o yaml`, or just its status.conditions).
    let conds = conditions_in(text);
    if conds.is_empty() && !text.contains("CertificateSigningRequest") {
        return Err(first_line_error(WHAT, text));
    }
    let field = |k: &str| text.lines().find_map(|l| l.trim().strip_prefix(k)).map(unquote).unwrap_or_default();
    let types: Vec<&str> = conds.iter().filter(|c| c.status != "False").map(|c| c.kind.as_str()).collect();
    let mut condition = if types.is_empty() { "Pending".to_string() } else { types.join(",") };
    if text.contains("certificate:") && !condition.contains("Issued") && condition.contains("Approved") {
        condition.push_str(",Issued");
    }
    Ok(vec![CsrRow {
        name: field("name:"),
        signer: field("signerName:"),
        requestor: field("username:"),
        condition,
        reason: conds.iter().filter(|c| c.kind != "Approved").map(|c| c.reason.clone()).collect::<Vec<_>>().join(","),
    }])
}

/// A Service of type LoadBalancer and its external IPs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbRow {
    /// Namespace, when shown.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Ingress IPs (`<pending>` → none).
    pub ips: Vec<String>,
}

/// LoadBalancer Services from `kubectl get svc` JSON or the table.
pub fn lb_rows(json: Option<&Value>, text: &str) -> Result<Vec<LbRow>, ParseError> {
    const WHAT: &str = "kubectl get services";
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        let services: Vec<Service> = match v.get("items").and_then(Value::as_array) {
            Some(a) => super::items_as(WHAT, a.iter())?,
            None => vec![super::typed(WHAT, v)?],
        };
        return Ok(super::load_balancers(&services)
            .into_iter()
            .map(|l| LbRow {
                namespace: l.namespace.into(),
                name: l.name.into(),
                ips: l.ingress_ips.into_iter().map(String::from).collect(),
            })
            .collect());
    }
    let t = table_in(text, &["NAME", "TYPE", "EXTERNAL-IP"]).ok_or_else(|| first_line_error(WHAT, text))?;
    Ok(t.rows
        .iter()
        .filter(|r| t.cell(r, "TYPE") == Some("LoadBalancer"))
        .map(|r| LbRow {
            namespace: t.cell(r, "NAMESPACE").unwrap_or("").into(),
            name: t.cell(r, "NAME").unwrap_or("").into(),
            ips: t
                .cell(r, "EXTERNAL-IP")
                .filter(|ip| !ip.starts_with('<'))
                .map(|ip| ip.split(',').map(String::from).collect())
                .unwrap_or_default(),
        })
        .collect())
}

/// The KubeProxyConfiguration text of the kube-proxy ConfigMap: `data["config.conf"]` from JSON,
/// the `config.conf: |-` block of `-o yaml` (de-indented), or, for a `grep` excerpt, the text
/// itself when it holds a `mode:` or `strictARP:` line.
pub fn kube_proxy_config(json: Option<&Value>, text: &str) -> Result<String, ParseError> {
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        let cm: ConfigMap = super::typed("kube-proxy ConfigMap", v)?;
        return super::configmap_data(&cm, "config.conf")
            .map(String::from)
            .ok_or_else(|| ParseError::at("kube-proxy ConfigMap", "data", "no data.config.conf"));
    }
    let lines: Vec<&str> = text.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.trim_start().starts_with("config.conf:")) {
        let indent = lines[i].len() - lines[i].trim_start().len();
        let body: Vec<&str> =
            lines[i + 1..].iter().take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent).copied().collect();
        let strip = body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
        return Ok(body.iter().map(|l| l.get(strip..).unwrap_or("")).collect::<Vec<_>>().join("\n"));
    }
    if lines.iter().any(|l| {
        let t = l.trim_start();
        t.starts_with("mode:") || t.starts_with("strictARP:")
    }) {
        return Ok(text.to_string());
    }
    let first = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("(empty output)");
    Err(ParseError::at("kube-proxy ConfigMap", first, "no config.conf"))
}

/// `key: value` anywhere in a YAML excerpt (a `grep` line without its parents), unquoted.
pub fn loose_key<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim().split_once(':')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}
