//! How libtorch's OpenMP threads wait. libgomp's default lets idle threads spin for work. On
//! a machine whose cores are shared with other jobs that is ruinous (2 shared cores: a default
//! 2-D run made 1.0–1.3 steps/s spinning, 15–26 with `OMP_WAIT_POLICY=PASSIVE`); on an idle
//! machine spinning pays (same run, idle: 44–55 steps/s spinning, 24–27 passive, 38 on one
//! thread). Neither policy is right everywhere, so the default stays libgomp's and
//! [`wait_passively`] is there for a caller that knows the cores are shared; the start line
//! shows the policy in effect.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The variable libgomp reads.
pub const WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// Restarts this program with `OMP_WAIT_POLICY=PASSIVE` unless the variable is set (libgomp
/// reads it when it is loaded, before `main`). Returns
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
