//! The boot probe: a 512-byte x86 boot sector written from Rust that prints
//! [`BOOT_MARKER`] on COM1 and powers QEMU off, booted once per accelerator. Whether the
//! marker reaches the serial file is the only evidence that guest code ran: `/dev/kvm`
//! existing proves nothing under nested virtualisation. Main type: [`BootOutcome`].

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::runner::HostFs;
use crate::process::{CommandError, CommandRunner, CommandSpec};

/// What the guest prints on COM1 once its first instruction has run.
pub const BOOT_MARKER: &str = "KUBELAB-BOOT-OK";

/// I/O port of QEMU's `isa-debug-exit` device; a byte written there ends QEMU with
/// exit status `(byte << 1) | 1`.
const DEBUG_EXIT_PORT: u8 = 0xf4;
/// The byte the boot sector writes to [`DEBUG_EXIT_PORT`].
const DEBUG_EXIT_VALUE: u8 = 0x10;
/// The QEMU exit status that value produces.
pub const DEBUG_EXIT_STATUS: i32 = ((DEBUG_EXIT_VALUE as i32) << 1) | 1;

/// A real-mode boot sector: `cli; cld; ds = 0; si = marker; for each byte: out 0x3f8, al;`
/// then `out 0xf4, 0x10` (isa-debug-exit) and `hlt` forever. Ends with the 0x55AA signature.
pub fn boot_sector() -> [u8; 512] {
    const LOAD_ADDRESS: u16 = 0x7c00;
    let mut code: Vec<u8> = vec![
        0xfa, // cli
        0xfc, // cld
        0x31,
        0xc0, // xor ax, ax
        0x8e,
        0xd8, // mov ds, ax
        0xbe,
        0x00,
        0x00, // mov si, imm16 (patched below)
        0xba,
        0xf8,
        0x03, // mov dx, 0x3f8 (COM1 data port)
        // print:
        0xac, // lodsb
        0x84,
        0xc0, // test al, al
        0x74,
        0x03, // jz done (skip `out` and `jmp`)
        0xee, // out dx, al
        0xeb,
        0xf8, // jmp print
        // done:
        0xb0,
        DEBUG_EXIT_VALUE, // mov al, 0x10
        0xe6,
        DEBUG_EXIT_PORT, // out 0xf4, al
        // halt: (only reached without isa-debug-exit)
        0xf4, // hlt
        0xeb,
        0xfd, // jmp halt
    ];
    let marker_offset = code.len() as u16;
    let [lo, hi] = (LOAD_ADDRESS + marker_offset).to_le_bytes();
    code[7] = lo;
    code[8] = hi;
    code.extend_from_slice(BOOT_MARKER.as_bytes());
    code.extend_from_slice(b"\r\n\0");
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// QEMU accelerator to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeAccel {
    /// Hardware virtualisation (`-accel kvm`).
    Kvm,
    /// Software emulation (`-accel tcg`).
    Tcg,
}

impl ProbeAccel {
    /// QEMU's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeAccel::Kvm => "kvm",
            ProbeAccel::Tcg => "tcg",
        }
    }
}

/// How one boot went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootOutcome {
    /// The marker reached the serial file.
    Booted {
        /// Spawn to QEMU exit.
        elapsed: Duration,
    },
    /// QEMU was killed at the timeout without the marker on the serial line.
    Hung {
        /// How long we waited.
        elapsed: Duration,
        /// Bytes the firmware printed before the hang (0: no guest code ran at all).
        serial_bytes: usize,
    },
    /// QEMU exited without the marker (e.g. cannot open /dev/kvm).
    Failed {
        /// QEMU's exit code, if any.
        code: Option<i32>,
        /// QEMU's first error line.
        message: String,
        /// Spawn to exit.
        elapsed: Duration,
    },
    /// `qemu-system-x86_64` is not installed.
    QemuMissing,
    /// The probe could not prepare its files or start QEMU.
    ProbeError {
        /// What went wrong.
        message: String,
    },
}

/// The QEMU invocation for one probe boot.
pub fn qemu_command(accel: ProbeAccel, image: &Path, serial: &Path, timeout: Duration) -> CommandSpec {
    // The CPU model kubelab's domains use under each accelerator (host-passthrough under KVM):
    // on some nested hosts KVM runs a default CPU but QEMU aborts setting the host CPU's MSRs.
    let cpu = if accel == ProbeAccel::Kvm { "host" } else { "qemu64" };
    let args = [
        "-accel".to_string(),
        accel.as_str().to_string(),
        "-cpu".into(),
        cpu.into(),
        "-nodefaults".into(),
        "-nographic".into(),
        "-no-reboot".into(),
        "-monitor".into(),
        "none".into(),
        "-net".into(),
        "none".into(),
        "-m".into(),
        "32".into(),
        "-serial".into(),
        format!("file:{}", serial.display()),
        "-device".into(),
        format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04"),
        "-drive".into(),
        format!("format=raw,file={}", image.display()),
    ];
    CommandSpec { program: "qemu-system-x86_64".into(), args: args.to_vec(), timeout }
}

/// Writes the boot sector into `work_dir`, boots it under `accel`, and judges the serial file.
pub fn probe(runner: &dyn CommandRunner, fs: &dyn HostFs, work_dir: &Path, accel: ProbeAccel, timeout: Duration) -> BootOutcome {
    let image = work_dir.join("boot-sector.img");
    let serial = work_dir.join(format!("serial-{}.log", accel.as_str()));
    let prepared = fs.create_dir_all(work_dir).and_then(|()| fs.write(&image, &boot_sector())).and_then(|()| fs.remove_file(&serial));
    if let Err(e) = prepared {
        return BootOutcome::ProbeError { message: format!("cannot write the probe image in {}: {e}", work_dir.display()) };
    }
    let out = match runner.run(&qemu_command(accel, &image, &serial, timeout)) {
        Ok(out) => out,
        Err(CommandError::NotFound { .. }) => return BootOutcome::QemuMissing,
        Err(e) => return BootOutcome::ProbeError { message: e.to_string() },
    };
    let printed = fs.read(&serial).unwrap_or_default();
    let _ = fs.remove_file(&serial);
    let _ = fs.remove_file(&image);
    if String::from_utf8_lossy(&printed).contains(BOOT_MARKER) {
        BootOutcome::Booted { elapsed: out.elapsed }
    } else if out.timed_out {
        BootOutcome::Hung { elapsed: out.elapsed, serial_bytes: printed.len() }
    } else {
        let message = match out.first_message_line() {
            m if m.is_empty() => {
                format!("QEMU exited (code {:?}) without the boot marker on the serial line", out.code)
            }
            m => m,
        };
        BootOutcome::Failed { code: out.code, message, elapsed: out.elapsed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fake::FakeFs;
    use crate::process::CommandOutput;
    use crate::process::fake::{FakeRunner, timed_out};

    #[test]
    fn boot_sector_is_bootable_and_points_at_the_marker() {
        let s = boot_sector();
        assert_eq!(&s[510..], &[0x55, 0xaa], "BIOS boot signature");
        let at = s.windows(BOOT_MARKER.len()).position(|w| w == BOOT_MARKER.as_bytes()).expect("marker present");
        // `mov si, imm16` (0xbe) must load the marker's linear address (loaded at 0x7c00).
        let si = s.iter().position(|&b| b == 0xbe).expect("mov si");
        assert_eq!(u16::from_le_bytes([s[si + 1], s[si + 2]]) as usize, 0x7c00 + at);
        assert_eq!(s[at + BOOT_MARKER.len()..at + BOOT_MARKER.len() + 3], *b"\r\n\0", "NUL-terminated");
        // `mov dx, 0x3f8` selects COM1.
        assert!(s.windows(3).any(|w| w == [0xba, 0xf8, 0x03]));
        // The short jumps land on instructions: jz +3 skips `out dx,al; jmp`, jmp -8 returns to lodsb.
        let lodsb = s.iter().position(|&b| b == 0xac).expect("lodsb");
        let jmp = s.windows(2).position(|w| w == [0xeb, 0xf8]).expect("jmp print");
        assert_eq!(jmp as isize + 2 - 8, lodsb as isize);
        assert_eq!(DEBUG_EXIT_STATUS, 33);
    }

    #[test]
    fn qemu_command_names_accel_serial_and_image() {
        let spec = qemu_command(ProbeAccel::Kvm, Path::new("/w/b.img"), Path::new("/w/s.log"), Duration::from_secs(20));
        let line = spec.line();
        assert!(line.starts_with("qemu-system-x86_64 -accel kvm "), "{line}");
        assert!(line.contains("-serial file:/w/s.log"), "{line}");
        assert!(line.contains("-drive format=raw,file=/w/b.img"), "{line}");
        assert!(line.contains("-no-reboot"), "{line}");
        assert_eq!(spec.timeout, Duration::from_secs(20));
    }

    /// A QEMU that "runs" the image: writes `serial` into the serial file named in its args.
    fn qemu_printing(fs: &FakeFs, serial: &'static str, out: CommandOutput) -> FakeRunner {
        let runner = FakeRunner::new();
        let fs = fs.clone();
        runner.respond(move |spec| {
            let path = spec.args.iter().find_map(|a| a.strip_prefix("file:"))?;
            let image = spec.args.iter().find_map(|a| a.strip_prefix("format=raw,file="))?;
            // The image handed to QEMU must be the boot sector.
            assert_eq!(fs.file(Path::new(image)).as_deref(), Some(&boot_sector()[..]));
            fs.write(Path::new(path), serial.as_bytes()).ok()?;
            Some(Ok(out.clone()))
        });
        runner
    }

    #[test]
    fn marker_on_serial_is_a_boot() {
        let fs = FakeFs::new();
        let out = CommandOutput { code: Some(DEBUG_EXIT_STATUS), elapsed: Duration::from_millis(140), ..Default::default() };
        let r = qemu_printing(&fs, "SeaBIOS\r\nBooting from Hard Disk..KUBELAB-BOOT-OK\r\n", out);
        let got = probe(&r, &fs, Path::new("/tmp/p"), ProbeAccel::Tcg, Duration::from_secs(20));
        assert_eq!(got, BootOutcome::Booted { elapsed: Duration::from_millis(140) });
        assert!(fs.file(Path::new("/tmp/p/serial-tcg.log")).is_none(), "cleaned up");
    }

    #[test]
    fn timeout_without_marker_is_a_hang_counting_firmware_bytes() {
        let fs = FakeFs::new();
        let r = qemu_printing(&fs, "", timed_out(Duration::from_secs(20)));
        let got = probe(&r, &fs, Path::new("/p"), ProbeAccel::Kvm, Duration::from_secs(20));
        assert_eq!(got, BootOutcome::Hung { elapsed: Duration::from_secs(20), serial_bytes: 0 });
        let fs = FakeFs::new();
        let r = qemu_printing(&fs, "SeaBIOS (version", timed_out(Duration::from_secs(20)));
        let got = probe(&r, &fs, Path::new("/p"), ProbeAccel::Kvm, Duration::from_secs(20));
        assert_eq!(got, BootOutcome::Hung { elapsed: Duration::from_secs(20), serial_bytes: 16 });
    }

    #[test]
    fn early_exit_without_marker_carries_qemu_error() {
        let fs = FakeFs::new();
        let out = CommandOutput {
            code: Some(1),
            stderr: "qemu-system-x86_64: -accel kvm: Could not access KVM kernel module: No such file or directory\n".into(),
            elapsed: Duration::from_millis(30),
            ..Default::default()
        };
        let r = qemu_printing(&fs, "", out);
        match probe(&r, &fs, Path::new("/p"), ProbeAccel::Kvm, Duration::from_secs(20)) {
            BootOutcome::Failed { code: Some(1), message, .. } => {
                assert!(message.contains("Could not access KVM"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_qemu_is_reported_as_such() {
        let got = probe(&FakeRunner::new(), &FakeFs::new(), Path::new("/p"), ProbeAccel::Tcg, Duration::from_secs(1));
        assert_eq!(got, BootOutcome::QemuMissing);
    }

    #[test]
    #[ignore = "boots qemu"]
    fn real_probe_boots_under_tcg() {
        use crate::doctor::runner::RealFs;
        use crate::process::SystemRunner;
        let dir = std::env::temp_dir().join(format!("kubelab-boot-probe-{}", std::process::id()));
        for accel in [ProbeAccel::Kvm, ProbeAccel::Tcg] {
            let got = probe(&SystemRunner, &RealFs, &dir, accel, Duration::from_secs(20));
            eprintln!("{}: {got:?}", accel.as_str());
            if accel == ProbeAccel::Tcg {
                assert!(matches!(got, BootOutcome::Booted { .. }), "TCG must boot the sector: {got:?}");
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}
