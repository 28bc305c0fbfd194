//! Ctrl-C, SIGTERM and SIGHUP set a flag that the run polls; the run then stops its clients, heals
//! every fault, stops the nodes and saves what it recorded. Nodes run in their own process groups,
//! so a Ctrl-C typed at the terminal reaches the harness only.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handlers.
pub fn install() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let _ = signal(sig, SigHandler::Handler(on_signal));
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
