//! The `flowmap-train` binary as a user drives it: errors before training, the full
//! train → export → inspect → sample → eval round trip, distillation, Ctrl-C and resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowmap-train"));
    c.env("OMP_NUM_THREADS", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flowmap-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const TINY: &[&str] = &[
    "--steps",
    "20",
    "--batch",
    "64",
    "--hidden",
    "16x2",
    "--data-points",
    "500",
    "--threads",
    "1",
    "--quiet",
    "--eval-samples",
    "0",
];

#[test]
fn the_start_line_shows_how_openmp_threads_wait() {
    let dir = tempdir("omp");
    let start_line = |policy: Option<&str>| {
        let mut c = bin();
        match policy {
            Some(p) => c.env("OMP_WAIT_POLICY", p),
            None => c.env_remove("OMP_WAIT_POLICY"),
        };
        let o = c
            .args([&["train", "--out", s(&dir.join("run"))], TINY].concat())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
            .lines()
            .find(|l| l.starts_with("training "))
            .unwrap()
            .to_string()
    };
    let unset = start_line(None);
    assert!(unset.contains("OMP_WAIT_POLICY=libgomp default"), "{unset}");
    assert!(start_line(Some("PASSIVE")).contains("OMP_WAIT_POLICY=PASSIVE"));
}

/// libtorch's MKL picks its kernels by the CPU's instruction sets whatever the vendor
/// (trainer/src/main.rs): the first line `MKL_VERBOSE=1` prints names the code path it chose.
#[test]
#[cfg(target_arch = "x86_64")]
fn mkl_picks_kernels_by_instruction_set() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    let dir = tempdir("mkl");
    let code_path = |vendor_check: &str| {
        let o = bin()
            .env("MKL_VERBOSE", "1")
            .env("FLOWMAP_MKL_VENDOR_CHECK", vendor_check)
            .args([&["train", "--out", s(&dir.join("run"))], TINY].concat())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let all = text(&o);
        let banner = all
            .lines()
            .find(|l| l.starts_with("MKL_VERBOSE oneMKL"))
            .unwrap_or_else(|| panic!("no MKL banner in:\n{all}"));
        // "… for Intel(R) 64 architecture <code path>, Lnx <clock> …": keep the code path.
        let path = banner.split(" architecture ").nth(1).unwrap_or(banner);
        path.split(", Lnx").next().unwrap().to_string()
    };
    let chosen = code_path("0");
    if has("avx512f") {
        assert!(chosen.contains("AVX-512"), "{chosen}");
    } else if has("avx2") {
        assert!(chosen.contains("AVX2"), "{chosen}");
    }
    let own = code_path("1");
    if cpuinfo.contains("GenuineIntel") {
        assert_eq!(own, chosen);
    } else {
        assert_eq!(own, "Intel(R) Architecture processors");
    }
}

/// `--minutes` fixes the step counts of both phases of a default run (half the time each at
/// most) and says how to repeat the run by step counts, which gives the same bits.
#[test]
fn a_time_budget_picks_a_step_count_that_repeats_the_run() {
    let dir = tempdir("minutes");
    let rest: Vec<&str> = TINY.iter().copied().skip(2).collect(); // TINY without --steps
    let timed = dir.join("timed");
    let o = run(&[
        &["train", "--out", s(&timed), "--minutes", "0.08"],
        rest.as_slice(),
    ]
    .concat());
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    // One line per phase: the teacher's half of the budget, then the student's rest.
    let budgets: Vec<u64> = said
        .lines()
        .filter(|l| l.starts_with("time budget "))
        .map(|l| l.split_whitespace().nth(4).unwrap().parse().unwrap())
        .collect();
    let [teacher_steps, steps] = budgets[..] else {
        panic!("one budget line per phase: {said}");
    };
    assert!(
        teacher_steps > 30 && steps > 30,
        "2.4 s of a tiny MLP is more than the 30 timed steps: {said}"
    );
    let config = |d: &Path| std::fs::read_to_string(d.join("config.toml")).unwrap();
    assert!(
        config(&timed.join("teacher")).contains(&format!("steps = {teacher_steps}\n")),
        "{}",
        config(&timed.join("teacher"))
    );
    let student = config(&timed);
    assert!(
        student.contains(&format!("\nsteps = {steps}\n")),
        "{student}"
    );
    assert!(
        student.contains(&format!("teacher_steps = {teacher_steps}\n")),
        "{student}"
    );
    let (t, n) = (teacher_steps.to_string(), steps.to_string());
    let repeat = format!("--teacher-steps {t} --steps {n} repeats both phases exactly");
    assert!(said.contains(&repeat), "{said}");
    // The same run by step counts: the same weights, bit for bit.
    let counted = dir.join("counted");
    let o = run(&[
        &[
            "train",
            "--out",
            s(&counted),
            "--teacher-steps",
            &t,
            "--steps",
            &n,
        ],
        rest.as_slice(),
    ]
    .concat());
    assert!(o.status.success(), "{}", text(&o));
    let model = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(model(&timed), model(&counted));
    // A budget and a step count together, or a budget on a resumed run, are refused.
    let o = run(&["train", "--minutes", "1", "--steps", "5"]);
    assert!(
        !o.status.success() && text(&o).contains("--minutes"),
        "{}",
        text(&o)
    );
    let o = run(&["train", "--minutes", "0"]);
    assert!(
        text(&o).contains("positive number of minutes"),
        "{}",
        text(&o)
    );
}

#[test]
fn quality_probe_shows_in_the_log_and_changes_nothing() {
    let dir = tempdir("probe");
    let train = |name: &str, every: &str| {
        let out = dir.join(name);
        let o = run(&[&["train", "--out", s(&out), "--quality-every", every], TINY].concat());
        assert!(o.status.success(), "{}", text(&o));
        out
    };
    let (with, without) = (train("with", "7"), train("without", "0"));
    // Probing draws nothing from libtorch's generator: the trained weights are bit-identical.
    let model = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(model(&with), model(&without));
    let probes = |d: &Path| -> Vec<(u64, f64, f64)> {
        std::fs::read_to_string(d.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("sw2_1").is_some())
            .map(|v| {
                (
                    v["step"].as_u64().unwrap(),
                    v["sw2_1"].as_f64().unwrap(),
                    v["sw2_2"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    // Steps 7 and 14, and the last (20); each figure a positive, finite distance.
    let seen = probes(&with);
    assert_eq!(seen.iter().map(|p| p.0).collect::<Vec<_>>(), [7, 14, 20]);
    assert!(seen
        .iter()
        .all(|p| p.1.is_finite() && p.1 > 0.0 && p.2.is_finite() && p.2 > 0.0));
    assert!(probes(&without).is_empty());
}

#[test]
fn datasets_and_help_teach() {
    let o = run(&["datasets"]);
    assert!(o.status.success());
    for name in [
        "checkerboard",
        "eight-gaussians",
        "two-moons",
        "spirals",
        "swiss-roll",
        "rings",
    ] {
        assert!(text(&o).contains(name), "{name} missing");
    }
    let o = run(&["train", "--help"]);
    assert!(
        o.status.success() && text(&o).contains("--method") && text(&o).contains("psd-midpoint")
    );
    assert!(text(&run(&["--help"])).contains("Examples:"));
}

#[test]
fn bad_data_fails_before_training_with_a_clear_error() {
    let d = tempdir("baddata");
    let cases: [(&str, &str, &str); 4] = [
        ("ragged.csv", "1,2\n3\n", "line 2"),
        ("words.csv", "1,2\n3,abc\n", "abc"),
        ("nan.csv", "1,2\nnan,4\n", "row"),
        ("empty.csv", "", "empty"),
    ];
    for (file, content, needle) in cases {
        let p = d.join(file);
        std::fs::write(&p, content).unwrap();
        let out = d.join(format!("run-{file}"));
        let mut args = vec!["train", "--data", s(&p), "--out", s(&out)];
        args.extend_from_slice(TINY);
        let o = run(&args);
        assert!(!o.status.success(), "{file} was accepted");
        let msg = text(&o).to_lowercase();
        assert!(msg.contains(needle), "{file}: '{needle}' not in: {msg}");
        assert!(
            !out.join("checkpoint.safetensors").exists(),
            "{file}: trained anyway"
        );
    }
    // Too little data: refused before training, never a panic in the final quality table.
    let one = d.join("one.csv");
    std::fs::write(&one, "x,y\n0.5,0.25\n").unwrap();
    let three = d.join("three.csv");
    std::fs::write(&three, "1,2\n3,4\n5,7\n").unwrap();
    for (p, eval_samples, needle) in [
        (&one, "100", "training needs at least 2"),
        (&one, "0", "training needs at least 2"),
        (&three, "100", "needs at least 4"),
    ] {
        let out = d.join("small");
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec!["train", "--data", s(p), "--out", s(&out)];
        // TINY without its trailing `--eval-samples 0`.
        assert_eq!(&TINY[TINY.len() - 2..], ["--eval-samples", "0"]);
        args.extend_from_slice(&TINY[..TINY.len() - 2]);
        args.extend(["--eval-samples", eval_samples]);
        let o = run(&args);
        let msg = text(&o);
        assert!(!o.status.success() && msg.contains(needle), "{msg}");
        assert!(!msg.contains("panicked"), "{msg}");
        assert!(
            !out.join("checkpoint.safetensors").exists(),
            "trained anyway"
        );
    }
    // Three rows train when the table is skipped.
    let out = d.join("three-run");
    let mut args = vec!["train", "--data", s(&three), "--out", s(&out)];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));

    let o = run(&["train", "--data", "no-such-set", "--out", s(&d.join("x"))]);
    assert!(
        text(&o).contains("neither a built-in dataset"),
        "{}",
        text(&o)
    );
}

#[test]
fn unwritable_output_fails_up_front() {
    let blocker = tempdir("unwritable").join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let mut args = vec!["train", "--out", s(&blocker)];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(!o.status.success());
    assert!(text(&o).contains("output directory"), "{}", text(&o));
}

#[test]
fn user_data_round_trip_through_every_subcommand() {
    let d = tempdir("roundtrip");
    // 3-D user data from a CSV with a header.
    let mut csv = String::from("a,b,c\n");
    for i in 0..400 {
        let x = (i as f32 * 0.37).sin();
        csv += &format!("{x},{},{}\n", 2.0 * x + 1.0, (i % 7) as f32);
    }
    let data = d.join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let out = d.join("run");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--method",
        "psd-midpoint",
    ];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "checkpoint.safetensors",
        "model.safetensors",
        "log.jsonl",
        "config.toml",
        "loss.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let model = out.join("model.safetensors");
    let o = run(&["inspect", s(&model)]);
    assert!(
        o.status.success()
            && text(&o).contains("\"psd-midpoint\"")
            && text(&o).contains("layers.0.weight")
    );

    let f16 = d.join("m16.safetensors");
    let o = run(&[
        "export",
        "--checkpoint",
        s(&out.join("checkpoint.safetensors")),
        "--weights",
        "raw",
        "--dtype",
        "f16",
        "--out",
        s(&f16),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::metadata(&f16).unwrap().len() < std::fs::metadata(&model).unwrap().len());

    let samples = d.join("s.csv");
    let o = run(&[
        "sample",
        "--model",
        s(&f16),
        "--n",
        "50",
        "--steps",
        "2",
        "--out",
        s(&samples),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&samples).unwrap();
    assert_eq!(written.lines().count(), 51, "header + 50 rows");

    let o = run(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--steps",
        "1,2",
        "--n",
        "100",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("floor"), "{}", text(&o));

    // A teacher of another dimension is refused before training.
    let student = d.join("t");
    let mut args = vec![
        "train",
        "--data",
        "checkerboard",
        "--teacher",
        s(&model),
        "--out",
        s(&student),
    ];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(
        !o.status.success() && text(&o).contains("dimension"),
        "{}",
        text(&o)
    );
}

#[test]
fn divergence_guard_stops_the_run_with_a_clear_error() {
    // A factor below 1 trips at the first step (the loss equals its own reference); what is
    // checked is the wiring: the run stops, says why, and exports nothing.
    let d = tempdir("diverge");
    let mut args = vec!["train", "--out", s(&d), "--max-loss-growth", "0.5"];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("training diverged") && t.contains("--max-loss-growth"),
        "{t}"
    );
    assert!(!d.join("model.safetensors").exists());
    // No checkpoint yet: the advice is a lower peak rate (the default 0.015, halved).
    assert!(t.contains("Try a lower --lr (e.g. 0.0075)"), "{t}");
    let mut args = vec!["train", "--out", s(&d), "--max-loss-growth=-1"];
    args.extend_from_slice(TINY);
    let t = text(&run(&args));
    assert!(t.contains("--max-loss-growth must be"), "{t}");
    // The teacher cap: LSD only, and not negative.
    for (flags, want) in [
        (
            &["--teacher-cap", "5", "--method", "esd"][..],
            "LSD's teacher velocity only",
        ),
        (
            &["--teacher-cap=-1"][..],
            "--teacher-cap must be 0 (off) or positive",
        ),
        (&["--on-divergence", "retry"][..], "use cap or stop"),
    ] {
        let mut args = vec!["train", "--out", s(&d)];
        args.extend_from_slice(flags);
        args.extend_from_slice(TINY);
        let o = run(&args);
        assert!(
            !o.status.success() && text(&o).contains(want),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn resume_may_lower_the_peak_learning_rate_and_the_clip() {
    // How a run that diverged continues from its checkpoint: the same checkpoint resumed
    // twice, once as it was and once at half the peak rate. The schedule keeps its shape, so
    // every later step's rate is exactly half (halving a binary float is exact).
    let d = tempdir("resume-lr");
    let first = d.join("first");
    let mut args = vec![
        "train",
        "--out",
        s(&first),
        "--lr",
        "0.01",
        "--log-every",
        "1",
    ];
    args.extend_from_slice(TINY);
    assert!(run(&args).status.success());
    let lrs = |dir: &Path| -> Vec<(u64, f64)> {
        std::fs::read_to_string(dir.join("log.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| Some((v["step"].as_u64()?, v["lr"].as_f64()?)))
            .filter(|&(step, _)| step > 20)
            .collect()
    };
    let mut resumed = Vec::new();
    for (name, extra) in [
        ("same", &[][..]),
        ("lower", &["--lr", "0.005", "--clip", "2"][..]),
    ] {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["checkpoint.safetensors", "config.toml"] {
            std::fs::copy(first.join(f), dir.join(f)).unwrap();
        }
        let mut args = vec!["train", "--out", s(&dir), "--resume", "--steps", "30"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--quiet", "--eval-samples", "0"]);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        if name == "lower" {
            let t = text(&o);
            assert!(
                t.contains("resuming with --lr 0.005 (the run had 0.01)"),
                "{t}"
            );
            assert!(t.contains("resuming with --clip 2 (the run had 10)"), "{t}");
        }
        resumed.push(lrs(&dir));
    }
    let (same, lower) = (&resumed[0], &resumed[1]);
    assert_eq!(same.len(), 10, "{same:?}");
    assert_eq!(same.len(), lower.len());
    for (&(s1, a), &(s2, b)) in same.iter().zip(lower) {
        assert_eq!(s1, s2);
        assert!(a > 0.0 && b == a / 2.0, "step {s1}: {b} is not half of {a}");
    }
    // The new rate is the run's from now on: a second resume keeps it.
    let again = run(&[
        "train",
        "--out",
        s(&d.join("lower")),
        "--resume",
        "--steps",
        "31",
        "--quiet",
        "--eval-samples",
        "0",
    ]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!text(&again).contains("resuming with"), "{}", text(&again));
    let config = std::fs::read_to_string(d.join("lower").join("config.toml")).unwrap();
    assert!(config.lines().any(|l| l == "lr = 0.005"), "{config}");
}

#[test]
fn teacher_distillation_runs() {
    let d = tempdir("teacher");
    let fm = d.join("fm");
    let mut args = vec!["train", "--method", "fm", "--out", s(&fm)];
    args.extend_from_slice(TINY);
    assert!(run(&args).status.success());
    let teacher = fm.join("model.safetensors");
    for method in ["lsd", "esd", "psd-uniform"] {
        let out = d.join(method);
        let mut args = vec![
            "train",
            "--method",
            method,
            "--teacher",
            s(&teacher),
            "--out",
            s(&out),
        ];
        args.extend_from_slice(TINY);
        let o = run(&args);
        assert!(o.status.success(), "{method}: {}", text(&o));
        let o = run(&["inspect", s(&out.join("model.safetensors"))]);
        assert!(
            text(&o).contains(&format!("{method}+teacher")),
            "{}",
            text(&o)
        );
    }
}

/// `--teacher-steps` is the two commands above in one: the same teacher, the same student,
/// bit for bit, and `--resume` picks up whichever phase was running.
#[test]
fn a_teacher_phase_then_distillation_in_one_command() {
    let d = tempdir("teacher-steps");
    // `train` with these flags and the tiny settings: (succeeded, what it printed).
    let train = |flags: &[&str]| {
        let mut args = vec!["train"];
        args.extend_from_slice(flags);
        args.extend_from_slice(TINY);
        let o = run(&args);
        (o.status.success(), text(&o))
    };
    let out = d.join("both");
    let (ok, said) = train(&["--teacher-steps", "20", "--out", s(&out)]);
    assert!(ok, "{said}");
    assert!(
        said.contains("phase 1 of 2") && said.contains("phase 2 of 2"),
        "{said}"
    );
    let inspect = |p: &Path| text(&run(&["inspect", s(p)]));
    assert!(inspect(&out.join("teacher/model.safetensors")).contains("fm"));
    assert!(inspect(&out.join("model.safetensors")).contains("lsd+teacher"));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("teacher_steps = 20"), "{config}");

    // By hand: a flow-matching run, then LSD with it as --teacher and as the start (--init).
    let fm = d.join("fm");
    assert!(train(&["--method", "fm", "--out", s(&fm)]).0);
    let by_hand = d.join("by-hand");
    let teacher = fm.join("model.safetensors");
    let (ok, said) = train(&[
        "--teacher",
        s(&teacher),
        "--init",
        s(&teacher),
        "--out",
        s(&by_hand),
    ]);
    assert!(ok, "{said}");
    // The warm start matters: from a random start the student differs.
    let cold = d.join("cold");
    assert!(train(&["--teacher", s(&teacher), "--out", s(&cold)]).0);
    let samples = |dir: &Path| {
        let csv = dir.join("samples.csv");
        let model = dir.join("model.safetensors");
        let o = run(&[
            "sample",
            "--model",
            s(&model),
            "--n",
            "200",
            "--out",
            s(&csv),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(csv).unwrap()
    };
    assert_eq!(samples(&out.join("teacher")), samples(&fm));
    assert_eq!(samples(&out), samples(&by_hand));
    assert_ne!(samples(&out), samples(&cold));

    // Stopped between the phases: --resume finds the finished teacher and trains the student.
    std::fs::remove_file(out.join("checkpoint.safetensors")).unwrap();
    let (ok, said) = train(&["--teacher-steps", "20", "--out", s(&out), "--resume"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("resuming") && said.contains("phase 2 of 2"),
        "{said}"
    );
    assert_eq!(samples(&out), samples(&by_hand));
    // With the student's checkpoint there, --resume continues the student alone.
    let o = run(&[
        "train",
        "--out",
        s(&out),
        "--resume",
        "--steps",
        "25",
        "--quiet",
        "--eval-samples",
        "0",
    ]);
    assert!(
        o.status.success() && !text(&o).contains("phase 1"),
        "{}",
        text(&o)
    );

    let bad = d.join("bad");
    for (extra, error) in [
        (&["--teacher", s(&teacher)][..], "not both"),
        (&["--method", "fm"][..], "--teacher-steps applies to"),
    ] {
        let mut flags = vec!["--teacher-steps", "20", "--out", s(&bad)];
        flags.extend_from_slice(extra);
        let (ok, said) = train(&flags);
        assert!(!ok && said.contains(error), "{said}");
    }
    // A warm start from another network is refused, saying what differs.
    let (ok, said) = train(&[
        "--init",
        s(&teacher),
        "--state-frequencies",
        "none",
        "--out",
        s(&bad),
    ]);
    assert!(
        !ok && said.contains("--state-frequencies") && said.contains("[0.25, 0.5, 1.0, 2.0]"),
        "{said}"
    );
}

#[test]
fn ctrl_c_saves_and_resume_finishes() {
    let d = tempdir("sigint");
    let out = d.join("run");
    let child = bin()
        .args([
            "train",
            "--out",
            s(&out),
            "--steps",
            "100000",
            "--teacher-steps",
            "0",
            "--batch",
            "64",
            "--hidden",
            "16",
            "--data-points",
            "500",
        ])
        .args([
            "--threads",
            "1",
            "--quiet",
            "--eval-samples",
            "0",
            "--log-every",
            "10",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = out.join("log.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&log)
        .map(|l| l.lines().count())
        .unwrap_or(0)
        < 3
    {
        assert!(t0.elapsed().as_secs() < 60, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("--resume"), "{}", text(&o));
    assert!(out.join("checkpoint.safetensors").exists() && out.join("model.safetensors").exists());

    let saved = flowmap::Model::from_file(out.join("model.safetensors"))
        .unwrap()
        .meta()
        .provenance
        .steps;
    assert!(saved >= 30, "interrupted at step {saved}");
    let target = (saved + 20).to_string();
    let o = run(&[
        "train",
        "--out",
        s(&out),
        "--resume",
        "--steps",
        &target,
        "--quiet",
        "--eval-samples",
        "0",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    let done = flowmap::Model::from_file(out.join("model.safetensors"))
        .unwrap()
        .meta()
        .provenance
        .steps;
    assert_eq!(done, saved + 20);
}

/// Ctrl-C in the teacher phase of a default run: the teacher's checkpoint is kept, the message
/// names the whole run's directory, and `--resume` there finishes the teacher and then trains
/// the student.
#[test]
fn ctrl_c_in_the_teacher_phase_resumes_both_phases() {
    let d = tempdir("sigint-teacher");
    let out = d.join("run");
    let child = bin()
        .args(["train", "--out", s(&out), "--teacher-steps", "3000"])
        .args(TINY)
        .args(["--log-every", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = out.join("teacher/log.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&log)
        .map(|l| l.lines().count())
        .unwrap_or(0)
        < 3
    {
        assert!(t0.elapsed().as_secs() < 60, "the teacher did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let said = text(&o);
    assert_eq!(o.status.code(), Some(130), "{said}");
    let hint = format!("resume with --out {} --resume", s(&out));
    assert!(said.contains(&hint) && !said.contains("phase 2"), "{said}");
    assert!(out.join("teacher/checkpoint.safetensors").exists());
    assert!(!out.join("checkpoint.safetensors").exists());

    let mut args = vec![
        "train",
        "--out",
        s(&out),
        "--resume",
        "--teacher-steps",
        "3000",
    ];
    args.extend_from_slice(TINY);
    let o = run(&args);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("resuming") && said.contains("phase 2 of 2"),
        "{said}"
    );
    let steps = |p: &Path| {
        flowmap::Model::from_file(p)
            .unwrap()
            .meta()
            .provenance
            .steps
    };
    assert_eq!(steps(&out.join("teacher/model.safetensors")), 3000);
    assert_eq!(steps(&out.join("model.safetensors")), 20);
}

/// Images train end to end: an IDX file (the Fashion-MNIST format) of 4×4 images is read in
/// [−1, 1], trained with σ = 0.5 and no per-pixel normalisation, exported with its image shape
/// and plotted as an image grid by `eval --plot`.
#[test]
fn idx_images_train_export_and_plot() {
    let d = tempdir("idx");
    let mut idx = vec![0u8, 0, 8, 3];
    for dim in [60u32, 4, 4] {
        idx.extend_from_slice(&dim.to_be_bytes());
    }
    idx.extend((0..60 * 16).map(|i| ((i * 37) % 256) as u8));
    let data = d.join("train-images-idx3-ubyte");
    std::fs::write(&data, idx).unwrap();
    let out = d.join("run");
    let mut args = vec!["train", "--data", s(&data), "--out", s(&out)];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let model = flowmap::Model::from_file(out.join("model.safetensors")).unwrap();
    assert_eq!(model.data_shape(), &[1, 4, 4]);
    assert_eq!(model.meta().sigma, 0.5);
    let norm = &model.meta().normalization;
    assert!(norm.mean.iter().all(|&m| m == 0.0) && norm.std.iter().all(|&v| v == 1.0));
    let png = d.join("grid.png");
    let o = run(&[
        "eval",
        "--model",
        s(&out.join("model.safetensors")),
        "--data",
        s(&data),
        "--steps",
        "1,2",
        "--n",
        "20",
        "--no-ode",
        "--plot",
        s(&png),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::metadata(&png).unwrap().len() > 100,
        "no image grid"
    );
}

/// An IDX file of `n` 28×28 images: a bright square of random size and place on black.
fn square_images(path: &Path, n: u32, seed: u64) {
    let mut rng = flowmap_eval::Rng::new(seed);
    let mut b = vec![0u8, 0, 8, 3];
    for dim in [n, 28, 28] {
        b.extend_from_slice(&dim.to_be_bytes());
    }
    for _ in 0..n {
        let (size, y0, x0) = (4 + rng.below(10), rng.below(14), rng.below(14));
        for y in 0..28 {
            for x in 0..28 {
                let inside = (y0..y0 + size).contains(&y) && (x0..x0 + size).contains(&x);
                b.push(if inside { 230 } else { 0 });
            }
        }
    }
    std::fs::write(path, b).unwrap();
}

/// A tiny model trained on 28×28 images, evaluated with `--reference` (a held-out file): every
/// row has a finite FD and class coverage, the floor row is there, and the JSON names the
/// reference and the classifier's accuracy.
#[test]
fn eval_with_a_held_out_reference_gives_fd_and_a_floor() {
    let d = tempdir("fd");
    let (train, test) = (d.join("train-ubyte"), d.join("t10k-ubyte"));
    square_images(&train, 80, 1);
    square_images(&test, 40, 2);
    let out = d.join("run");
    let mut args = vec!["train", "--data", s(&train), "--out", s(&out)];
    args.extend_from_slice(TINY);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let model = out.join("model.safetensors");
    let eval = |json: bool| {
        let mut a = vec![
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&train),
            "--reference",
            s(&test),
            "--steps",
            "1,2",
            "--n",
            "30",
            "--no-ode",
        ];
        if json {
            a.push("--json");
        }
        let o = run(&a);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let report: serde_json::Value = serde_json::from_str(&eval(true)).unwrap();
    assert_eq!(report["reference"].as_str(), Some(s(&test)));
    assert_eq!(report["n"], 30);
    assert!(report["classifier_accuracy"].as_f64().unwrap() > 0.85);
    let rows = report["flow_map"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        ["1 step", "2 steps", "base noise", "floor (data vs ref)"]
    );
    for r in rows {
        let fd = r["fd"].as_f64().unwrap();
        assert!(fd.is_finite() && fd >= 0.0, "{r}");
        assert_eq!(r["coverage"]["fractions"].as_array().unwrap().len(), 10);
    }
    let table = eval(false);
    assert!(
        table.contains("FD") && table.contains("Class coverage"),
        "{table}"
    );
}

/// `--arch unet` trains a U-Net on images with every method's objective (LSD here: exact
/// tangents by forward-mode AD), prints its size and cost, exports a format-2 model the runtime
/// reads, checkpoints and resumes; 2-D data is refused before training.
#[test]
fn unet_trains_on_images_resumes_and_refuses_points() {
    let d = tempdir("unet");
    let mut idx = vec![0u8, 0, 8, 3];
    for dim in [40u32, 8, 8] {
        idx.extend_from_slice(&dim.to_be_bytes());
    }
    idx.extend((0..40 * 64).map(|i| if (i / 8 + i / 64) % 3 == 0 { 255 } else { 0 }));
    let data = d.join("bars.idx");
    std::fs::write(&data, idx).unwrap();
    let out = d.join("run");
    let base = [
        "train",
        "--arch",
        "unet",
        "--unet-preset",
        "tiny",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--batch",
        "8",
        "--threads",
        "1",
        "--quiet",
        "--eval-samples",
        "0",
        "--checkpoint-every",
        "2",
    ];
    for method in ["lsd", "esd", "psd-midpoint"] {
        let _ = std::fs::remove_dir_all(&out);
        let mut args = base.to_vec();
        args.extend(["--method", method, "--steps", "3"]);
        let o = run(&args);
        let msg = text(&o);
        assert!(o.status.success(), "{method}: {msg}");
        assert!(
            msg.contains("parameters") && msg.contains("MFLOP per image"),
            "{msg}"
        );
        assert!(out.join("checkpoint.safetensors").exists());
        // Exported as format 2 and read by the runtime: same shape, the pixel mapping declared.
        let model = flowmap::Model::from_file(out.join("model.safetensors")).unwrap();
        assert_eq!(
            (model.format_version(), model.data_shape()),
            (2, &[1usize, 8, 8][..])
        );
        let flowmap::schema::Architecture::Unet { pixel_range, .. } = &model.meta().architecture
        else {
            panic!("not a U-Net")
        };
        assert_eq!(*pixel_range, Some([-1.0, 1.0]));
    }
    // Resume the last run (PSD-M) to 5 steps from its checkpoint.
    let o = run(&[
        "train",
        "--out",
        s(&out),
        "--resume",
        "--steps",
        "5",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    assert!(log.contains("\"step\":5"), "{log}");
    // Points are not images.
    let mut args = base.to_vec();
    args[6] = "checkerboard";
    args.extend(["--steps", "3"]);
    let o = run(&args);
    assert!(
        !o.status.success() && text(&o).contains("--arch unet needs images"),
        "{}",
        text(&o)
    );
}
