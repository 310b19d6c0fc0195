//! SIGINT / SIGTERM: the first one inside an operation that cleans up after itself asks it to
//! stop and clean up; a second one, or one anywhere else, exits at once with 130.

/// Signal state of the process: how many operations can clean up after an interrupt right now,
/// and whether one arrived.
static CLEANUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static SIGNALLED: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> = std::sync::OnceLock::new();

/// SIGINT / SIGTERM: inside an operation that cleans up after itself (see [`interrupted`]) the
/// first one asks it to stop and clean up, a second one exits at once; anywhere else the process
/// exits at once with 130, as without a handler.
pub fn install_signal_handler() {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, _) = tokio::sync::watch::channel(false);
    let _ = SIGNALLED.set(tx);
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    tokio::spawn(async move {
        let mut cleaning = false;
        loop {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            if cleaning {
                eprintln!("interrupted again: exiting now; `kubelab down` removes what is left");
                std::process::exit(kubelab::exit_codes::INTERRUPTED);
            }
            if CLEANUPS.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                eprintln!("interrupted");
                std::process::exit(kubelab::exit_codes::INTERRUPTED);
            }
            cleaning = true;
            eprintln!("interrupted: cleaning up (interrupt again to exit at once)");
            if let Some(tx) = SIGNALLED.get() {
                let _ = tx.send(true);
            }
        }
    });
}

/// Completes when the user interrupts; while it is being awaited, an interrupt means "stop and
/// clean up" instead of "exit now".
pub async fn interrupted() {
    struct Section;
    impl Drop for Section {
        fn drop(&mut self) {
            CLEANUPS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let Some(mut rx) = SIGNALLED.get().map(|tx| tx.subscribe()) else {
        return std::future::pending().await;
    };
    CLEANUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _section = Section;
    let _ = rx.wait_for(|s| *s).await;
}
