//! The `kubelab` binary as a user runs it: from a directory that is not the repository (the
//! feature files are built in), and every user error with its own documented exit code and a
//! message naming the thing and the fix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn bundle(name: &str) -> PathBuf {
    repo().join("tests/fixtures/bundles").join(name)
}

/// Runs the binary with `cwd` as working directory and no kubelab variables from the caller.
fn kubelab(cwd: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubelab"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KUBELAB_") {
            c.env_remove(k);
        }
    }
    c.args(args).current_dir(cwd).output().expect("run kubelab")
}

fn code_and_stderr(out: &Output) -> (Option<i32>, String) {
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_from_an_empty_directory_uses_the_built_in_features() {
    let cwd = tempfile::tempdir().unwrap();
    let b = bundle("guide-healthy");
    let out = kubelab(cwd.path(), &["check", "--evidence", b.to_str().unwrap(), "--report-dir", "reports"]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(0), "{err}\n{}", String::from_utf8_lossy(&out.stdout));
    let junit = std::fs::read_to_string(cwd.path().join("reports/junit.xml")).unwrap();
    assert!(junit.contains("features/host.feature") || junit.contains("host"), "{junit}");
    // A fault bundle still fails from there, with its diagnosis.
    let b = bundle("bgp-peer-active");
    let out = kubelab(cwd.path(), &["check", "--evidence", b.to_str().unwrap(), "--report-dir", "r2"]);
    assert_eq!(out.status.code(), Some(40), "{}", code_and_stderr(&out).1);
}

#[test]
fn features_dir_overrides_the_built_in_ones() {
    let cwd = tempfile::tempdir().unwrap();
    let f = cwd.path().join("mine");
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("one.feature"), "Feature: mine\n\n  @host @check:host.swap-off\n  Scenario: swap is off\n    Then swap is off and no swap line is active in /etc/fstab\n").unwrap();
    let b = bundle("guide-healthy");
    let out = kubelab(cwd.path(), &["check", "--evidence", b.to_str().unwrap(), "--features", "mine", "--report-dir", "r"]);
    let (code, err) = code_and_stderr(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(code == Some(0) || code == Some(40), "{err}");
    let junit = std::fs::read_to_string(cwd.path().join("r/junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 1, "only the one scenario of --features ran: {junit}\n{stdout}");
}

#[test]
fn user_errors_have_their_own_exit_codes() {
    let cwd = tempfile::tempdir().unwrap();
    let healthy = bundle("guide-healthy");
    let healthy = healthy.to_str().unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = {
        // A bundle of another format version.
        let other = cwd.path().join("v99");
        std::fs::create_dir(&other).unwrap();
        let m = std::fs::read_to_string(bundle("guide-healthy").join("manifest.json")).unwrap();
        std::fs::write(other.join("manifest.json"), m.replace("\"format_version\": 1", "\"format_version\": 99")).unwrap();
        // A feature naming a check that does not exist.
        let bad_features = cwd.path().join("badf");
        std::fs::create_dir(&bad_features).unwrap();
        std::fs::write(
            bad_features.join("x.feature"),
            "Feature: x\n\n  @check:host.no-such-check\n  Scenario: s\n    Then swap is off and no swap line is active in /etc/fstab\n",
        )
        .unwrap();
        let empty = cwd.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            (s(&["check", "--evidence", "/nonexistent/bundle"]), 42, "/nonexistent/bundle"),
            (s(&["check", "--evidence", other.to_str().unwrap()]), 43, "format version 99"),
            (s(&["check", "--evidence", healthy, "--tags", "@host and"]), 44, "bad --tags expression `@host and`"),
            (s(&["check", "--evidence", healthy, "--tags", "(@host"]), 44, "bad --tags expression"),
            (s(&["check", "--evidence", healthy, "--features", bad_features.to_str().unwrap()]), 45, "unknown check `host.no-such-check`"),
            (s(&["check", "--evidence", healthy, "--features", empty.to_str().unwrap()]), 46, "holds no .feature file"),
            (s(&["check", "--evidence", healthy, "--features", "/nonexistent/features"]), 46, "drop --features"),
        ]
    };
    for (args, want, says) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kubelab(cwd.path(), &a);
        let (code, err) = code_and_stderr(&out);
        assert_eq!(code, Some(want), "kubelab {}: {err}", args.join(" "));
        assert!(err.contains(says), "kubelab {}: expected `{says}` in: {err}", args.join(" "));
        assert_eq!(err.trim_end().lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {err}");
    }
}

#[test]
fn bad_config_exits_10_naming_the_key() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("bad.toml"), "name = \"x\"\nmemry_mib = 2048\n").unwrap();
    let out = kubelab(cwd.path(), &["--config", "bad.toml", "config"]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(10), "{err}");
    assert!(err.contains("memry_mib"), "the unknown key is named: {err}");
}

/// Every class of bad config a user can write is refused with exit 10 and a message naming the
/// key (issue #9's list), through the binary as a user runs it.
#[test]
fn every_class_of_bad_config_exits_10_naming_the_key() {
    let cwd = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("[versions]\nkubernetes = \"latest\"\n", "versions.kubernetes"),
        ("[versions]\nkubernetes = \"1.23\"\n", "versions.kubernetes"),
        ("[versions]\nhelm = \"3.8.0; rm -rf /\"\n", "versions.helm"),
        ("metallb_pool = \"10.0.0.1-10.0.0.9\"\n", "metallb_pool"),
        ("metallb_pool = \"192.168.1.130-192.168.1.140\"\n", "metallb_pool"),
        ("metallb_pool = \"192.168.1.1-192.168.1.9\"\n", "metallb_pool"),
        ("metallb_pool = \"192.168.1.220-192.168.1.200\"\n", "metallb_pool"),
        ("metallb_pool = \"lots\"\n", "metallb_pool"),
        ("memory_mib = 99999999\n", "memory_mib"),
        ("user = \"Not A User\"\n", "user"),
        ("state_dir = \"relative/state\"\n", "state_dir"),
        ("image_cache = \"images\"\n", "image_cache"),
        ("boot_timeout_secs = 0\n", "boot_timeout_secs"),
        ("libvirt_uri = \"not a uri\"\n", "libvirt_uri"),
        ("pod_cidr = \"10.96.0.0/16\"\n", "service_cidr"),
        ("colour = \"red\"\n", "colour"),
        ("[versions]\nkubernets = \"1.23.6\"\n", "versions.kubernets"),
    ];
    for (i, (toml, key)) in cases.iter().enumerate() {
        let f = cwd.path().join(format!("bad{i}.toml"));
        std::fs::write(&f, toml).unwrap();
        let out = kubelab(cwd.path(), &["--config", f.to_str().unwrap(), "config"]);
        let (code, err) = code_and_stderr(&out);
        assert_eq!(code, Some(10), "{toml:?} must be refused: {err}");
        assert!(err.contains(&format!("`{key}`")), "{toml:?}: the key `{key}` is named: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
}
