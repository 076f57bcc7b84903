//! Crashes and corruption during training, through the `flowmap-train` binary:
//!
//! - `kill -9` at random moments (several seeds and timings, up to three kills per run) with
//!   a checkpoint every 5 steps: after every kill the checkpoint on disk loads with a valid
//!   CRC, and resuming until done gives bit for bit the tensors of an uninterrupted run
//!   (parameters, both EMAs, optimiser moments, and the exported model);
//! - a crash without a final checkpoint (`--abort-after`) resumes exactly too;
//! - a checkpoint with a flipped byte, or cut short, is refused on `--resume` with a clear
//!   message, and left as it was;
//! - an injected NaN stops the run, keeps the last good checkpoint (identical to a clean
//!   run's at that step), and `--resume` from it finishes identically;
//! - a divergence that the teacher cap cures (`--inject-nan-until-capped`) goes on from the
//!   last checkpoint with the cap (`--on-divergence cap`, the default), or stops with `stop`.
//!
//! (An unwritable output directory is tested in cli.rs; the in-process NaN test is in
//! training.rs.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const STEPS: u64 = 60;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowmap-train"));
    c.env("OMP_NUM_THREADS", "1");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flowmap-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `train` with a tiny model, a checkpoint every 5 steps, raw weights exported.
fn train_args(out: &Path, steps: u64, seed: u64) -> Vec<String> {
    [
        "train",
        "--out",
        s(out),
        "--steps",
        &steps.to_string(),
        // One phase: the loop under test is the same in a teacher phase, and the hand-off
        // between the phases is tested in cli.rs.
        "--teacher-steps",
        "0",
        "--seed",
        &seed.to_string(),
        "--hidden",
        "16x2",
        "--batch",
        "64",
        "--data-points",
        "500",
        "--threads",
        "1",
        "--quiet",
        "--eval-samples",
        "0",
        "--checkpoint-every",
        "5",
        "--log-every",
        "1",
        "--export-weights",
        "raw",
    ]
    .map(String::from)
    .to_vec()
}

fn resume_args(out: &Path, steps: u64) -> Vec<String> {
    [
        "train",
        "--out",
        s(out),
        "--resume",
        "--steps",
        &steps.to_string(),
        "--quiet",
        "--eval-samples",
        "0",
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

fn run(args: &[String]) -> Output {
    bin().args(args).output().expect("runs")
}

/// name → (dtype, shape, bytes) of every tensor in a safetensors file.
fn tensors(path: &Path) -> BTreeMap<String, (String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                (
                    format!("{:?}", v.dtype()),
                    v.shape().to_vec(),
                    v.data().to_vec(),
                ),
            )
        })
        .collect()
}

/// The checkpoint loads through the trainer's own reader (which verifies the CRC); its step.
fn checkpoint_ok(path: &Path) -> u64 {
    let (_, info) = flowmap_train::checkpoint::load(path, tch::Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "{}: corrupt checkpoint after a crash: {e:#}",
            path.display()
        )
    });
    info.step
}

/// The run in `dir` ended exactly like the uninterrupted `reference`: the final checkpoint
/// and the exported model hold the same tensors, bit for bit.
fn assert_same_run(dir: &Path, reference: &Path) {
    for file in ["checkpoint.safetensors", "model.safetensors"] {
        assert_same_tensors(&dir.join(file), &reference.join(file));
    }
}

fn assert_same_tensors(a: &Path, b: &Path) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{} vs {}",
        a.display(),
        b.display()
    );
    for (name, x) in &ta {
        assert!(
            x == &tb[name],
            "tensor {name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// A reference run of `steps` for `seed` (cached per test process).
fn reference(seed: u64, steps: u64) -> PathBuf {
    let d = tempdir(&format!("ref-{seed}-{steps}"));
    let t0 = Instant::now();
    let o = run(&train_args(&d, steps, seed));
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("reference seed {seed}: {steps} steps in {:?}", t0.elapsed());
    d
}

/// SplitMix64: the kill delays.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Current step according to log.jsonl (one line per step).
fn logged_steps(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .map(|l| l.lines().count())
        .unwrap_or(0)
}

/// The step numbers of log.jsonl, in order; panics on a line that is not whole JSON.
fn log_steps(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("torn log line {l:?}: {e}"));
            v["step"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_then_resume_is_exact() {
    let mut trials = 0;
    let mut kills = 0;
    for seed in [1u64, 2, 3] {
        let reference = reference(seed, STEPS);
        for trial in 0..2u64 {
            trials += 1;
            let dir = tempdir(&format!("kill-{seed}-{trial}"));
            let mut rng = seed * 1000 + trial;
            let mut attempt = 0;
            loop {
                let have_checkpoint = dir.join("checkpoint.safetensors").exists();
                let args = if have_checkpoint {
                    resume_args(&dir, STEPS)
                } else {
                    train_args(&dir, STEPS, seed)
                };
                let mut child = bin()
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                if attempt >= 3 {
                    let o = child.wait_with_output().unwrap();
                    assert!(o.status.success(), "{}", text(&o));
                    break;
                }
                attempt += 1;
                // Kill once training has reached a random step (a random point before the
                // first checkpoint, between checkpoints, or while one is written), plus a
                // random sub-step delay.
                let start_lines = logged_steps(&dir);
                let target = start_lines + (next(&mut rng) % 25) as usize;
                let extra = Duration::from_micros(next(&mut rng) % 3000);
                let t0 = Instant::now();
                let finished = loop {
                    if let Some(status) = child.try_wait().unwrap() {
                        break Some(status);
                    }
                    if logged_steps(&dir) >= target {
                        std::thread::sleep(extra);
                        break None;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(60), "training stalled");
                    std::thread::sleep(Duration::from_micros(200));
                };
                if finished.is_some() {
                    // Reached the end before the kill: nothing to interrupt any more.
                    let o = child.wait_with_output().unwrap();
                    assert!(o.status.success(), "{}", text(&o));
                    break;
                }
                child.kill().unwrap(); // SIGKILL
                let status = child.wait().unwrap();
                if status.success() {
                    break; // finished just before the signal landed
                }
                kills += 1;
                let ckpt = dir.join("checkpoint.safetensors");
                if ckpt.exists() {
                    let step = checkpoint_ok(&ckpt);
                    assert!(step % 5 == 0 && step <= STEPS, "checkpoint at step {step}");
                }
            }
            assert_eq!(checkpoint_ok(&dir.join("checkpoint.safetensors")), STEPS);
            assert_same_run(&dir, &reference);
            // The log reads like the uninterrupted run's: every line whole, each step once.
            assert_eq!(log_steps(&dir), log_steps(&reference));
            let _ = std::fs::remove_dir_all(&dir);
        }
        let _ = std::fs::remove_dir_all(&reference);
    }
    eprintln!("{trials} runs, {kills} SIGKILLs, every checkpoint intact, every result exact");
    assert!(
        kills >= trials,
        "too few kills landed: {kills} in {trials} runs"
    );
}

#[test]
fn crash_without_final_checkpoint_resumes_exactly() {
    let reference = reference(7, 30);
    let dir = tempdir("abort");
    let mut args = train_args(&dir, 30, 7);
    args.extend(["--abort-after".into(), "17".into()]);
    let o = run(&args);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(checkpoint_ok(&dir.join("checkpoint.safetensors")), 15);
    let o = run(&resume_args(&dir, 30));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    assert_same_run(&dir, &reference);
}

#[test]
fn corrupted_checkpoint_is_refused_on_resume() {
    let dir = tempdir("corrupt");
    let o = run(&train_args(&dir, 10, 3));
    assert!(o.status.success(), "{}", text(&o));
    let ckpt = dir.join("checkpoint.safetensors");
    let good = std::fs::read(&ckpt).unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let data_start = 8 + header_len;

    // One flipped bit at a few places in the tensor data: a checksum error.
    for at in [
        data_start,
        data_start + 101,
        (data_start + good.len()) / 2,
        good.len() - 1,
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&ckpt, &bad).unwrap();
        let o = run(&resume_args(&dir, 20));
        assert!(
            !o.status.success(),
            "byte {at}: resumed from a corrupt checkpoint"
        );
        let msg = text(&o);
        assert!(msg.contains("checksum"), "byte {at}: {msg}");
        assert!(msg.contains("checkpoint.safetensors"), "byte {at}: {msg}");
        assert_eq!(
            std::fs::read(&ckpt).unwrap(),
            bad,
            "the evidence was overwritten"
        );
    }
    // Cut short, or a garbage header: refused with a message naming the file.
    for bad in [
        good[..good.len() / 2].to_vec(),
        good[..5].to_vec(),
        Vec::new(),
        {
            let mut b = good.clone();
            b[8] = b'[';
            b
        },
    ] {
        std::fs::write(&ckpt, &bad).unwrap();
        let o = run(&resume_args(&dir, 20));
        assert!(!o.status.success(), "resumed from a damaged checkpoint");
        assert!(text(&o).contains("checkpoint.safetensors"), "{}", text(&o));
    }
    // The intact file still resumes.
    std::fs::write(&ckpt, &good).unwrap();
    let o = run(&resume_args(&dir, 20));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(checkpoint_ok(&ckpt), 20);
}

#[test]
fn a_diverged_run_goes_on_from_its_checkpoint_with_the_teacher_capped() {
    let dir = tempdir("recover");
    let mut args = train_args(&dir, 30, 5);
    args.extend(["--inject-nan-until-capped".into(), "13".into()]);
    let o = run(&args);
    let msg = text(&o);
    assert!(o.status.success(), "{msg}");
    assert!(
        msg.contains(
            "non-finite loss (NaN) at step 13: continuing from the step-10 checkpoint \
             with --teacher-cap 5"
        ),
        "{msg}"
    );
    assert!(msg.contains("note: the run diverged"), "{msg}");
    let (_, info) =
        flowmap_train::checkpoint::load(&dir.join("checkpoint.safetensors"), tch::Device::Cpu)
            .unwrap();
    assert_eq!((info.step, info.config.teacher_cap), (30, Some(5.0)));
    assert!(dir.join("model.safetensors").exists());
    // Asked to stop instead, it stops at the divergence and exports nothing.
    let dir = tempdir("recover-stop");
    let mut args = train_args(&dir, 30, 5);
    args.extend(["--inject-nan-until-capped", "13", "--on-divergence", "stop"].map(String::from));
    let o = run(&args);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("continuing from"), "{}", text(&o));
    assert!(!dir.join("model.safetensors").exists());
}

#[test]
fn injected_nan_keeps_the_last_good_checkpoint_and_resume_is_exact() {
    let reference10 = reference(5, 10);
    let reference30 = reference(5, 30);
    let dir = tempdir("nan");
    let mut args = train_args(&dir, 30, 5);
    args.extend(["--inject-nan-at".into(), "13".into()]);
    let o = run(&args);
    assert!(!o.status.success(), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("non-finite") && msg.contains("13"), "{msg}");
    let ckpt = dir.join("checkpoint.safetensors");
    assert_eq!(checkpoint_ok(&ckpt), 10);
    assert_same_tensors(&ckpt, &reference10.join("checkpoint.safetensors"));
    let o = run(&resume_args(&dir, 30));
    assert!(o.status.success(), "{}", text(&o));
    assert_same_run(&dir, &reference30);
}
