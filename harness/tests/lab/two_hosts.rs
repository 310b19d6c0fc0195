//! A lab on this machine's libvirt and a lab on a second libvirt host (issue 14, part 2).

use super::*;

/// The second host's URI: `ci/lab` starts it (`ci/labenv start-host h2`) and exports it.
fn second_host_uri() -> String {
    std::env::var("KUBELAB_SECOND_HOST_URI")
        .expect("KUBELAB_SECOND_HOST_URI is unset: run the live tier through ci/lab, which starts the second host (ci/labenv start-host)")
}

/// `virsh -c URI ARGS` from the lab namespace (the test's own view of a host, not kubelab's).
fn virsh_at(uri: &str, args: &[&str]) -> String {
    let out = Command::new("virsh").arg("-c").arg(uri).args(args).output().expect("run virsh");
    assert!(out.status.success(), "virsh -c {uri} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a host holds, counted with virsh: domains, networks, nwfilters that are not libvirt's
/// built-in ones (given), storage pools other than `keep`, and the volumes in them.
fn host_leftovers(uri: &str, builtin_filters: &[String], keep: &[&str]) -> (usize, usize, usize, usize, usize) {
    let names =
        |args: &[&str]| virsh_at(uri, args).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let domains = names(&["list", "--all", "--name"]).len();
    let networks = names(&["net-list", "--all", "--name"]).len();
    let filters = names(&["nwfilter-list"])
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|f| f != "Name" && !builtin_filters.contains(f))
        .count();
    let pools: Vec<String> = names(&["pool-list", "--all", "--name"]).into_iter().filter(|p| !keep.contains(&p.as_str())).collect();
    // `vol-list` has no `--name`: count the rows under its table's rule.
    let volumes = pools
        .iter()
        .map(|p| {
            virsh_at(uri, &["vol-list", p]).lines().skip_while(|l| !l.starts_with("---")).skip(1).filter(|l| !l.trim().is_empty()).count()
        })
        .sum();
    (domains, networks, filters, pools.len(), volumes)
}

/// Takes the labs down when the test ends, also when it fails half-way (a failed run must not
/// leave guests running into the next live test).
struct DownOnDrop<'a>(Vec<&'a Path>);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = kubelab(&["down"], Some(c));
        }
    }
}

fn builtin_filters(uri: &str) -> Vec<String> {
    virsh_at(uri, &["nwfilter-list"])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|f| f != "Name")
        .collect()
}

/// Issue 14, part 2: lab A on the local libvirtd and lab B on the second host, reached only
/// over SSH (`qemu+libssh2://`, host key pinned): the base image is uploaded into the second
/// host's `kubelab-images` pool over the storage stream API, overlays and seeds are volumes
/// there, boot progress is read over the console stream and the guests are reached through
/// the host's sshd. Six distinct identities; both provisioned, and the host scenarios (identity,
/// host preparation) pass on both (lab B has no outside: its egress scenario is skipped with the
/// reason); `down` of B
/// leaves A whole; a second `up` on the second host reuses the uploaded base; nothing of
/// either lab is left on either host.
#[test]
fn labs_on_two_hosts() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let uri = second_host_uri();
    let local = "qemu:///system";
    let dir = tempfile::tempdir().unwrap();
    let a = lab_config(dir.path(), "kl-here", 23, Some(2048));
    // Lab B on the second host: 1 GiB guests to fit beside lab A, three nodes still.
    let b = lab_config(dir.path(), "kl-there", 24, Some(1024));
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, format!("libvirt_uri = \"{uri}\"\n{text}")).unwrap();
    let (a, b) = (a.as_path(), b.as_path());
    let (local_filters, remote_filters) = (builtin_filters(local), builtin_filters(&uri));
    let before_local = host_leftovers(local, &local_filters, &[]);
    assert_eq!(host_leftovers(&uri, &remote_filters, &["kubelab-images"]), (0, 0, 0, 0, 0), "the second host starts empty");
    for c in [a, b] {
        ok(&["down"], Some(c));
    }
    let _down = DownOnDrop(vec![a, b]);
    ok(&["image", "build", "offline"], Some(a));
    // A base uploaded by an earlier run would make the first `up` a reuse: start without one.
    let _ = Command::new("virsh").args(["-c", &uri, "pool-destroy", "kubelab-images"]).output();
    let _ = Command::new("virsh").args(["-c", &uri, "pool-delete", "kubelab-images"]).output();
    let _ = Command::new("virsh").args(["-c", &uri, "pool-undefine", "kubelab-images"]).output();

    let t = Instant::now();
    ok(&["up", "--no-provision"], Some(a));
    let took_a = t.elapsed().as_secs_f64();
    let up_b = |round: &str| {
        let t = Instant::now();
        let out = kubelab(&["up", "--no-provision"], Some(b));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "up of the lab on the second host ({round}): {err}");
        let line = err.lines().find(|l| l.contains("base image:")).unwrap_or_default().to_string();
        (t.elapsed().as_secs_f64(), line)
    };
    let (took_b1, image_b1) = up_b("first");
    assert!(image_b1.contains("base.qcow2 uploaded"), "the first up uploads the base: {image_b1}");
    eprintln!("two hosts: lab A (local) up in {took_a:.1} s; lab B (second host) up in {took_b1:.1} s; {image_b1}");

    // Lab B's domains, network and pool are on the second host, not here.
    let remote_domains = virsh_at(&uri, &["list", "--all", "--name"]);
    assert_eq!(remote_domains.lines().filter(|l| l.starts_with("kl-there-")).count(), 3, "{remote_domains}");
    assert!(!virsh_at(local, &["list", "--all", "--name"]).contains("kl-there-"), "lab B must not be on the local libvirtd");
    assert!(!virsh_at(&uri, &["list", "--all", "--name"]).contains("kl-here-"), "lab A must not be on the second host");
    let base_vols = virsh_at(&uri, &["vol-list", "kubelab-images"]);
    assert!(base_vols.contains("-base.qcow2") && base_vols.contains("-vmlinuz") && base_vols.contains("-initrd.img"), "{base_vols}");

    let mut all = lab_status(a);
    all.extend(lab_status(b));
    for k in ["product_uuid", "machine_id", "macs", "host_key_fingerprint"] {
        pairwise_distinct(&all, k);
    }
    eprintln!("two hosts: 6 nodes, pairwise distinct product_uuid, machine-id, MACs and host keys");
    // Host preparation on both labs (the guide's steps up to where Kubernetes packages are
    // needed), then every host-level scenario on both. One after the other: on this 2-core
    // runner both at once took 358 s, one alone 128 s.
    for c in [a, b] {
        let t = Instant::now();
        ok(&["provision"], Some(c));
        eprintln!("two hosts: {} provisioned in {:.1} s", c.display(), t.elapsed().as_secs_f64());
    }
    let reports = dir.path().join("reports");
    for (c, name) in [(a, "a"), (b, "b")] {
        let r = reports.join(name);
        let out = kubelab(&["check", "--tags", "@host", "--report-dir", r.to_str().unwrap()], Some(c));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the host scenarios of lab {name}: {text}");
        assert!(text.contains("0 failed"), "{text}");
        let junit = std::fs::read_to_string(r.join("junit.xml")).unwrap();
        if name == "a" {
            assert!(text.contains("PASS The lab's outside"), "lab A downloads through its outside: {text}");
        } else {
            // The outside is made beside the local libvirt only: skipped with the reason, not failed.
            assert!(text.contains("SKIP The lab's outside") && text.contains("the lab has no outside"), "{text}");
            assert!(junit.contains("skipped"), "{junit}");
        }
    }

    // down of B leaves A whole; B leaves nothing on the second host but the image cache.
    let a_before = inventory(Some(a));
    ok(&["down"], Some(b));
    assert_empty(&inventory(Some(b)));
    assert_eq!(host_leftovers(&uri, &remote_filters, &["kubelab-images"]), (0, 0, 0, 0, 0), "lab B left something on the second host");
    assert_eq!(inventory(Some(a)), a_before, "down of the remote lab took from the local one");

    // A second up on the second host reuses the uploaded base.
    let (took_b2, image_b2) = up_b("second");
    assert!(image_b2.contains("base.qcow2 reused"), "the second up reuses the base: {image_b2}");
    eprintln!("two hosts: lab B up again in {took_b2:.1} s (first {took_b1:.1} s); {image_b2}");
    lab_status(b);
    ok(&["down"], Some(b));
    ok(&["down"], Some(a));
    for c in [a, b] {
        assert_empty(&inventory(Some(c)));
    }
    assert_eq!(host_leftovers(&uri, &remote_filters, &["kubelab-images"]), (0, 0, 0, 0, 0), "left on the second host");
    assert_eq!(host_leftovers(local, &local_filters, &[]), before_local, "left on the local host");
    eprintln!("two hosts: 0 domains, networks, filters, pools and volumes left on either host (the second host's image cache kept)");
}

/// Issue 14, part 3: `up --labs` over a hosts file naming this libvirtd and the second host.
/// Ten labs fit on neither host: refused (exit 16) with nothing made on either. Two labs: each
/// host reports the same free memory (h2 shares this machine's kernel), so `-1` goes to the
/// first host and `-2` to the second, which has more left once `-1` is counted; both on their own
/// subnets; `status --all` sees both with three running, reachable nodes; `down --all` removes
/// both and counts nothing left on either host.
#[test]
fn labs_placed_over_two_hosts() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let uri = second_host_uri();
    let local = "qemu:///system";
    let dir = tempfile::tempdir().unwrap();
    // 1 GiB guests: libvirt's free memory is the kernel's MemFree, which the page cache of a long
    // live run keeps low, and both hosts count the same memory here.
    let base = lab_config(dir.path(), "kl-fleet", 26, Some(1024));
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, format!("state_dir = \"{}\"\n{text}", dir.path().join("state").display())).unwrap();
    let hosts = dir.path().join("hosts.toml");
    std::fs::write(&hosts, format!("[[hosts]]\nname = \"here\"\nuri = \"{local}\"\n\n[[hosts]]\nname = \"h2\"\nuri = \"{uri}\"\n"))
        .unwrap();
    let (base, h) = (base.as_path(), hosts.to_str().unwrap());
    let (local_filters, remote_filters) = (builtin_filters(local), builtin_filters(&uri));
    let before_local = host_leftovers(local, &local_filters, &[]);
    let before_remote = host_leftovers(&uri, &remote_filters, &["kubelab-images"]);
    ok(&["image", "build", "offline"], Some(base));

    let out = kubelab(&["--hosts", h, "up", "--labs", "10", "--no-provision"], Some(base));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(16), "ten labs of 3 GiB on two hosts: {err}");
    assert!(err.contains("fits on no host") && err.contains("nothing was created"), "{err}");
    assert_eq!(host_leftovers(local, &local_filters, &[]), before_local, "a refused request made something here");
    assert_eq!(host_leftovers(&uri, &remote_filters, &["kubelab-images"]), before_remote, "a refused request made something on h2");

    struct DownAll<'a>(&'a Path, &'a str);
    impl Drop for DownAll<'_> {
        fn drop(&mut self) {
            let _ = kubelab(&["--hosts", self.1, "down", "--all"], Some(self.0));
        }
    }
    let _down = DownAll(base, h);
    let t = Instant::now();
    let out = kubelab(&["--hosts", h, "up", "--labs", "2", "--no-provision"], Some(base));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "up --labs 2: {err}");
    assert!(err.contains("lab `kl-fleet-1` → host `here`") && err.contains("subnet 192.168.26.0/24"), "{err}");
    assert!(err.contains("lab `kl-fleet-2` → host `h2`") && err.contains("subnet 192.168.27.0/24"), "{err}");
    eprintln!("fleet: 2 labs up over two hosts in {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(virsh_at(local, &["list", "--name"]).lines().filter(|l| l.starts_with("kl-fleet-1-")).count(), 3);
    assert_eq!(virsh_at(&uri, &["list", "--name"]).lines().filter(|l| l.starts_with("kl-fleet-2-")).count(), 3);
    assert!(!virsh_at(local, &["list", "--all", "--name"]).contains("kl-fleet-2-"));

    let rows: serde_json::Value = serde_json::from_str(&ok(&["--hosts", h, "status", "--all", "--json"], Some(base))).unwrap();
    let rows = rows.as_array().unwrap();
    let seen: Vec<(String, String)> =
        rows.iter().map(|r| (r["lab"].as_str().unwrap().to_string(), r["host"].as_str().unwrap().to_string())).collect();
    assert_eq!(seen, [("kl-fleet-1".to_string(), "here".to_string()), ("kl-fleet-2".to_string(), "h2".to_string())], "{rows:?}");
    let mut nodes = Vec::new();
    for r in rows {
        assert_eq!(r["domains"].as_array().unwrap().iter().filter(|d| d[1] == "running").count(), 3, "{r}");
        for n in r["nodes"].as_array().unwrap_or_else(|| panic!("nodes unread: {r}")) {
            assert_eq!(n["reachable"], true, "{n}");
            assert_eq!(n["product_uuid"], n["domain_uuid"], "{n}");
            nodes.push(n.clone());
        }
    }
    assert_eq!(nodes.len(), 6);
    pairwise_distinct(&nodes, "product_uuid");
    pairwise_distinct(&nodes, "machine_id");

    let out = kubelab(&["--hosts", h, "down", "--all"], Some(base));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "down --all: {err}");
    assert!(err.contains("host `here`: removed kl-fleet-1 (3 domain(s)); left: nothing"), "{err}");
    assert!(err.contains("host `h2`: removed kl-fleet-2 (3 domain(s)); left: nothing"), "{err}");
    assert_eq!(host_leftovers(local, &local_filters, &[]), before_local, "left on the local host");
    assert_eq!(host_leftovers(&uri, &remote_filters, &["kubelab-images"]), before_remote, "left on the second host");
    eprintln!("fleet: down --all left 0 domains, networks, filters, pools and volumes on either host");
}
