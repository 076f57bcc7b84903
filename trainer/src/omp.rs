//! How libtorch's OpenMP threads wait. libgomp's default lets idle threads spin for work; on
//! a machine whose cores are shared with anything else that is ruinous — measured on a 2-core
//! machine with other jobs running, a default 2-D run (all cores) made 1.0–1.3 steps/s spinning
//! and 15–26 steps/s with `OMP_WAIT_POLICY=PASSIVE` (one thread: 12.8). libgomp reads the
//! variable when it is loaded, before `main`, so the only way to give users the passive policy
//! by default is to start the program once more with the variable set. A value the user set
//! is kept as it is.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The variable libgomp reads.
pub const WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// Restarts this program with `OMP_WAIT_POLICY=PASSIVE` unless the variable is set. Returns
/// only when nothing was restarted: the variable was set, or the restart failed (then the
/// program carries on with libgomp's default).
pub fn wait_passively() {
    if std::env::var_os(WAIT_POLICY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` only returns on failure.
    let _failed = Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .env(WAIT_POLICY, "PASSIVE")
        .exec();
}

/// The policy in effect, for the run's description: the variable, or libgomp's default.
pub fn wait_policy() -> String {
    std::env::var(WAIT_POLICY).unwrap_or_else(|_| "libgomp default".into())
}
