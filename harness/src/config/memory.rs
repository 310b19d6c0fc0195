//! Does the host have the memory a lab asks for? [`memory_warning`] (pure, over `MemAvailable`)
//! and [`mem_available_kib`] / [`read_mem_available_kib`] (reading `/proc/meminfo`). Used by
//! `kubelab doctor` (the `memory` item) and `kubelab up` (a warning before the guests start).

use std::path::Path;

/// Where the kernel reports free memory.
pub const MEMINFO: &str = "/proc/meminfo";

/// `MemAvailable` in KiB from the text of `/proc/meminfo`.
pub fn mem_available_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let mut parts = rest.split_whitespace();
        let n = parts.next()?.parse::<u64>().ok()?;
        matches!(parts.next(), Some("kB") | None).then_some(n)
    })
}

/// `MemAvailable` of this host in KiB (`None` when `/proc/meminfo` is unreadable).
pub fn read_mem_available_kib() -> Option<u64> {
    read_mem_available_kib_from(Path::new(MEMINFO))
}

/// `MemAvailable` in KiB from a meminfo file.
pub fn read_mem_available_kib_from(path: &Path) -> Option<u64> {
    mem_available_kib(&std::fs::read_to_string(path).ok()?)
}

/// A one-line warning when `need_mib` (all guests together) exceeds what the host has
/// available; `None` when it fits.
pub fn memory_warning(need_mib: u64, nodes: usize, memory_mib: u64, available_kib: u64) -> Option<String> {
    let available_mib = available_kib / 1024;
    (need_mib > available_mib).then(|| {
        format!(
            "the lab needs {need_mib} MiB ({nodes} node(s) × memory_mib = {memory_mib}) but this host has only {available_mib} MiB available (MemAvailable in {MEMINFO}); \
             guests may be killed or swap: lower `memory_mib` or the number of nodes, or free memory"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO_TEXT: &str =
        "MemTotal:        8052104 kB\nMemFree:          301232 kB\nMemAvailable:    5123456 kB\nBuffers:           81234 kB\n";

    #[test]
    fn mem_available_is_read_from_meminfo() {
        assert_eq!(mem_available_kib(MEMINFO_TEXT), Some(5_123_456));
        assert_eq!(mem_available_kib("MemTotal: 1 kB\n"), None);
        assert_eq!(mem_available_kib("MemAvailable: lots kB\n"), None);
        assert_eq!(mem_available_kib("MemAvailable: 12 MB\n"), None);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("meminfo");
        std::fs::write(&p, MEMINFO_TEXT).unwrap();
        assert_eq!(read_mem_available_kib_from(&p), Some(5_123_456));
        assert_eq!(read_mem_available_kib_from(&d.path().join("absent")), None);
    }

    #[test]
    fn warning_only_when_the_lab_does_not_fit() {
        assert_eq!(memory_warning(6144, 3, 2048, 8 * 1024 * 1024), None);
        assert_eq!(memory_warning(6144, 3, 2048, 6144 * 1024), None);
        let w = memory_warning(6144, 3, 2048, 4 * 1024 * 1024).unwrap();
        assert!(w.contains("needs 6144 MiB (3 node(s) × memory_mib = 2048)") && w.contains("only 4096 MiB available"), "{w}");
        assert!(w.contains("lower `memory_mib`"), "{w}");
        assert!(!w.contains('\n'));
    }
}
