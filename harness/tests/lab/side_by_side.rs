//! Two labs side by side on one host (issue 14, part 1).

use super::*;

/// Issue 14, part 1: two labs side by side on one host, named so that one name prefixes the
/// other (`kl-side`, `kl-side-2`) and on different subnets. Both up, six distinct identities,
/// both pass the identity scenarios; a third lab on a subnet in use is refused (exit 14) with
/// nothing created; `down` of the first leaves the second whole and green; nothing is left.
#[test]
fn two_labs_side_by_side() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let a = lab_config(dir.path(), "kl-side", 21, Some(2048));
    // The second lab's guests get less memory to fit beside the first; three nodes still.
    let b = lab_config(dir.path(), "kl-side-2", 22, Some(1024));
    let (a, b) = (a.as_path(), b.as_path());
    for c in [a, b] {
        ok(&["down"], Some(c));
    }
    ok(&["image", "build", "offline"], Some(a));
    let mut took = Vec::new();
    for c in [a, b] {
        let t = Instant::now();
        ok(&["up", "--no-provision"], Some(c));
        took.push(t.elapsed().as_secs_f64());
    }
    eprintln!("side by side: lab A up in {:.1} s, lab B up in {:.1} s (A running)", took[0], took[1]);
    let mut all = lab_status(a);
    all.extend(lab_status(b));
    for k in ["product_uuid", "machine_id", "macs", "host_key_fingerprint"] {
        pairwise_distinct(&all, k);
    }
    eprintln!("side by side: 6 nodes, pairwise distinct product_uuid, machine-id, MACs and host keys");
    let reports = dir.path().join("reports");
    for (c, name) in [(a, "a"), (b, "b")] {
        let r = reports.join(name);
        ok(&["check", "--tags", "@identity", "--report-dir", r.to_str().unwrap()], Some(c));
        assert!(r.join("junit.xml").exists());
    }

    // A third lab on lab A's subnet: refused before anything is made.
    let c3 = dir.path().join("kl-third.toml");
    std::fs::write(&c3, std::fs::read_to_string(a).unwrap().replace("name = \"kl-side\"", "name = \"kl-third\"")).unwrap();
    let out = kubelab(&["up", "--no-provision"], Some(&c3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(14), "a lab on a subnet in use: {err}");
    assert!(err.contains("192.168.21.0/24"), "the message names the subnet: {err}");
    assert_empty(&inventory(Some(&c3)));

    let b_before = inventory(Some(b));
    ok(&["down"], Some(a));
    assert_empty(&inventory(Some(a)));
    assert_eq!(inventory(Some(b)), b_before, "down of kl-side took from kl-side-2");
    lab_status(b);
    ok(&["check", "--tags", "@identity", "--report-dir", reports.join("b-after").to_str().unwrap()], Some(b));
    ok(&["down"], Some(b));
    assert_empty(&inventory(Some(b)));
}
