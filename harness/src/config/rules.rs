//! Pure syntax rules behind [`super::LabConfig::validate`]: MetalLB pools ([`PoolRange`]),
//! Linux user names, libvirt URIs, and how a refused value is shown in a one-line message.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// A MetalLB 0.12 layer-2 address pool as an inclusive range of IPv4 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRange {
    /// First address of the pool.
    pub first: Ipv4Addr,
    /// Last address of the pool (≥ `first`).
    pub last: Ipv4Addr,
}

impl PoolRange {
    /// Parses `a.b.c.d-e.f.g.h` (inclusive) or a CIDR `a.b.c.d/nn` (its network address, all of
    /// it), as MetalLB 0.12 reads `addresses:` entries. No spaces; the error says what to write.
    pub fn parse(s: &str) -> Result<PoolRange, String> {
        const FORM: &str = "write it as a range `a.b.c.d-e.f.g.h` or a CIDR `a.b.c.d/nn`";
        if s.is_empty() {
            return Err(format!("is empty; {FORM}"));
        }
        if let Some((a, b)) = s.split_once('-') {
            let addr = |part: &str| {
                part.parse::<Ipv4Addr>()
                    .map_err(|_| format!("{} is not an address range: `{}` is not an IPv4 address; {FORM}", shown(s), shown_raw(part)))
            };
            let (first, last) = (addr(a)?, addr(b)?);
            if first > last {
                return Err(format!("{} is reversed: its start {first} comes after its end {last}; write `{last}-{first}`", shown(s)));
            }
            return Ok(PoolRange { first, last });
        }
        if s.contains('/') {
            let net: Ipv4Net = s.parse().map_err(|_| format!("{} is not a valid IPv4 CIDR; {FORM}", shown(s)))?;
            if net.trunc() != net {
                return Err(format!("{} has host bits set; write its network `{}`", shown(s), net.trunc()));
            }
            return Ok(PoolRange { first: net.network(), last: net.broadcast() });
        }
        Err(format!("{} is not an address range; {FORM}", shown(s)))
    }

    /// Number of addresses in the pool.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Always false: a pool holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True if `ip` is in the pool.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.first <= ip && ip <= self.last
    }
}

impl fmt::Display for PoolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// True when the two networks share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Longest user name `useradd` accepts.
pub const USER_NAME_MAX: usize = 32;

/// Checks a login name as Debian's `useradd` accepts it by default
/// (`^[a-z_][a-z0-9_-]*[$]?$`, at most 32 characters).
pub fn check_user_name(s: &str) -> Result<(), String> {
    const RULE: &str = "a user name starts with a lowercase letter or `_`, continues with [a-z0-9_-] and may end in `$` (useradd's rule)";
    if s.is_empty() {
        return Err(format!("is empty; {RULE}, e.g. `speit`"));
    }
    if s.len() > USER_NAME_MAX {
        return Err(format!("{} is {} characters long; useradd accepts at most {USER_NAME_MAX}", shown(s), s.len()));
    }
    let body = s.strip_suffix('$').unwrap_or(s);
    let mut chars = body.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok { Ok(()) } else { Err(format!("{} is not a valid Linux user name; {RULE}", shown(s))) }
}

/// Transports libvirt knows (`driver+transport://`).
pub const LIBVIRT_TRANSPORTS: [&str; 7] = ["tls", "tcp", "unix", "ssh", "libssh", "libssh2", "ext"];

/// Checks libvirt URI syntax: `driver[+transport]://[user@][host[:port]]/path[?query]`
/// (RFC 3986 characters, `%HH` escapes, no fragment), e.g. `qemu:///system`,
/// `qemu+ssh://root@host/system`, `test:///default`.
pub fn check_libvirt_uri(s: &str) -> Result<(), String> {
    const FORM: &str =
        "expected driver[+transport]://[user@][host[:port]]/path[?query], e.g. `qemu:///system` or `qemu+ssh://user@host/system`";
    let bad = |why: String| Err(format!("{} is not a libvirt URI: {why}; {FORM}", shown(s)));
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return bad(format!("it contains {}", describe_char(c)));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return bad("no `://` after the driver".into());
    };
    let (driver, transport) = match scheme.split_once('+') {
        Some((d, t)) => (d, Some(t)),
        None => (scheme, None),
    };
    let name_ok = |n: &str| {
        n.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    if !name_ok(driver) {
        return bad(format!("driver `{driver}` is not a lowercase name like `qemu` or `test`"));
    }
    if let Some(t) = transport
        && !LIBVIRT_TRANSPORTS.contains(&t)
    {
        return bad(format!("unknown transport `{t}` (known: {})", LIBVIRT_TRANSPORTS.join(", ")));
    }
    if rest.contains('#') {
        return bad("a fragment (`#…`) is not allowed".into());
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let Some(slash) = before_query.find('/') else {
        return bad("no path after the host (e.g. `/system`)".into());
    };
    let (authority, path) = before_query.split_at(slash);
    check_authority(authority).or_else(bad)?;
    if path.len() < 2 {
        return bad("the path is empty (e.g. `/system`, `/session`, `/default`)".into());
    }
    if let Err(e) = uri_chars(path, "/:@") {
        return bad(format!("path: {e}"));
    }
    if let Some(q) = query
        && let Err(e) = uri_chars(q, "/:@?")
    {
        return bad(format!("query: {e}"));
    }
    Ok(())
}

fn check_authority(authority: &str) -> Result<(), String> {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(u) = userinfo {
        if u.is_empty() {
            return Err("empty user before `@`".into());
        }
        uri_chars(u, ":").map_err(|e| format!("user: {e}"))?;
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("`[` without `]` around an IPv6 host".into());
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{addr}` is not an IPv6 address"));
        }
        // The address is checked; what is left to check is only the port.
        match after {
            "" => (None, None),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err("junk after the IPv6 host".into()),
            },
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host {
        uri_chars(h, "").map_err(|e| format!("host: {e}"))?;
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("port `{p}` is not a number 1-65535"));
    }
    if host == Some("") && (userinfo.is_some() || port.is_some()) {
        return Err("a user or port without a host".into());
    }
    Ok(())
}

/// RFC 3986 unreserved / sub-delims / `%HH`, plus the `extra` characters.
fn uri_chars(s: &str, extra: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == '%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return Err("`%` not followed by two hex digits".into());
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=".contains(c) || extra.contains(c)) {
            return Err(format!("{} is not allowed there", describe_char(c)));
        }
        i += 1;
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character {}", c.escape_unicode()),
        c => format!("`{}`", c.escape_debug()),
    }
}

/// Longest value quoted in a message before it is cut.
const SHOWN_MAX: usize = 64;

fn shown_raw(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_debug).collect();
    if escaped.chars().count() > SHOWN_MAX { format!("{}…", escaped.chars().take(SHOWN_MAX).collect::<String>()) } else { escaped }
}

/// A config value as quoted in a one-line message: backticks, control characters escaped,
/// cut after 64 characters.
pub fn shown(s: &str) -> String {
    format!("`{}`", shown_raw(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_as_metallb_reads_them() {
        let r = PoolRange::parse("192.168.1.200-192.168.1.220").unwrap();
        assert_eq!((r.first, r.last, r.len()), (Ipv4Addr::new(192, 168, 1, 200), Ipv4Addr::new(192, 168, 1, 220), 21));
        assert_eq!(PoolRange::parse("192.168.1.192/27").unwrap().to_string(), "192.168.1.192-192.168.1.223");
        assert_eq!(PoolRange::parse("192.168.1.5-192.168.1.5").unwrap().len(), 1);
        for (bad, says) in [
            ("", "is empty"),
            ("pool", "is not an address range"),
            ("192.168.1.220-192.168.1.200", "is reversed"),
            ("172.42.42.100-120", "`120` is not an IPv4 address"),
            ("192.168.1.200 - 192.168.1.220", "is not an IPv4 address"),
            ("192.168.1.200/27", "write its network `192.168.1.192/27`"),
            ("192.168.1.0/33", "not a valid IPv4 CIDR"),
            ("fd00::1-fd00::9", "is not an IPv4 address"),
            ("192.168.1.1-192.168.1.2-192.168.1.3", "is not an IPv4 address"),
        ] {
            let e = PoolRange::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn user_names_follow_useradd() {
        for ok in ["speit", "_apt", "a", "user-1", "build_bot", "machine$", &"a".repeat(32)] {
            check_user_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", "Speit", "1user", "-x", "a b", "a$b", "$", "a;rm", "ünï", "a\n", &"a".repeat(33)] {
            assert!(check_user_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn libvirt_uris() {
        for ok in [
            "qemu:///system",
            "qemu:///session",
            "test:///default",
            "qemu+ssh://root@h/system",
            "qemu+ssh://speit@hv1.example.org/system",
            "qemu+libssh://root@10.0.0.2:2222/system?known_hosts=/root/.ssh/known_hosts&sshauth=privkey",
            "qemu+tcp://[fd00::2]:16509/system",
            "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
            "lxc:///system",
        ] {
            check_libvirt_uri(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, says) in [
            ("", "no `://`"),
            ("system", "no `://`"),
            ("qemu:/system", "no `://`"),
            ("QEMU:///system", "driver `QEMU`"),
            ("qemu+carrier://h/system", "unknown transport `carrier`"),
            ("qemu://", "no path"),
            ("qemu+ssh://h", "no path"),
            ("qemu:///", "the path is empty"),
            ("qemu:///system#x", "fragment"),
            ("qemu:///sys tem", "a space"),
            ("qemu:///system\n", "control character"),
            ("qemu+ssh://@h/system", "empty user"),
            ("qemu+ssh://h:0/system", "port `0`"),
            ("qemu+ssh://h:ssh/system", "port `ssh`"),
            ("qemu+ssh://[::g]/system", "not an IPv6"),
            ("qemu:///system%zz", "hex digits"),
            ("qemu+ssh://h/sys<tem>", "`<`"),
            ("qemu+ssh://:22/system", "without a host"),
        ] {
            let e = check_libvirt_uri(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn shown_values_stay_on_one_line() {
        assert_eq!(shown("1.23.6; rm -rf /"), "`1.23.6; rm -rf /`");
        assert_eq!(shown("a\nb"), "`a\\nb`");
        assert!(shown(&"x".repeat(500)).chars().count() < 70);
    }
}
