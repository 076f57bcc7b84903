//! Trainer → file → runtime → C: a model trained by the `flowmap-train` binary is sampled by
//! the runtime in this process, by the libtorch-free `flowmap` binary and by a C program
//! linked against libflowmap.so — the same seed gives the same bits everywhere.

mod common;

use common::{bin, profile_dir, run_ok, s, tempdir, text, TINY};
use std::process::Command;

/// Every value of a CSV written by `flowmap sample` or the C example (header, then rows).
fn csv_values(path: &std::path::Path) -> Vec<f32> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_trained_model_samples_to_the_same_bits_in_rust_the_cli_and_c() {
    let d = tempdir("pipeline");
    let run_dir = d.join("run");
    let mut args = vec![
        "train",
        "--data",
        "checkerboard",
        "--method",
        "lsd",
        "--steps",
        "15",
        "--out",
        s(&run_dir),
    ];
    args.extend_from_slice(TINY);
    let o = bin("flowmap-train").args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let model_path = run_dir.join("model.safetensors");

    // The runtime, in this process.
    let n = 64;
    let seed = 7u64;
    let model = flowmap::Model::from_file(&model_path).unwrap();
    let mut ws = model.workspace(n);
    let mut want = vec![0.0f32; n * model.dim()];
    model
        .sample_seeded(&mut ws, seed, flowmap::Grid::Uniform(1), &mut want)
        .unwrap();
    assert!(want.iter().all(|v| v.is_finite()));

    // The libtorch-free binary.
    let cli_csv = d.join("cli.csv");
    run_ok(bin("flowmap").args([
        "sample",
        "--model",
        s(&model_path),
        "--n",
        &n.to_string(),
        "--steps",
        "1",
        "--seed",
        &seed.to_string(),
        "--out",
        s(&cli_csv),
    ]));
    assert_eq!(
        csv_values(&cli_csv),
        want,
        "flowmap sample differs from the runtime"
    );

    // C: the shipped example, compiled against the build's libflowmap.so, installed in a
    // private directory under its link name and SONAME (as `make install` lays it out).
    let lib_dir = &d.join("lib");
    std::fs::create_dir_all(lib_dir).unwrap();
    for name in ["libflowmap.so", "libflowmap.so.0"] {
        std::os::unix::fs::symlink(profile_dir().join("libflowmap.so"), lib_dir.join(name))
            .unwrap();
    }
    let exe = d.join("flowmap_sample");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    run_ok(
        Command::new(cc)
            .args(["-std=c99", "-O1", "-o", s(&exe)])
            .arg(common::repo_root().join("examples/c/flowmap_sample.c"))
            .arg(format!("-I{}", s(&common::repo_root().join("include"))))
            .arg(format!("-L{}", s(lib_dir)))
            .arg(format!("-Wl,-rpath,{}", s(lib_dir)))
            .args(["-lflowmap", "-lm"]),
    );
    let c_out = d.join("c");
    run_ok(Command::new(&exe).args([
        s(&model_path),
        "--n",
        &n.to_string(),
        "--steps",
        "1",
        "--seed",
        &seed.to_string(),
        "--out",
        s(&c_out),
    ]));
    assert_eq!(
        csv_values(&c_out.join("samples_1step.csv")),
        want,
        "C through libflowmap.so differs from the runtime"
    );
}

/// `sample`, `eval` and `inspect` need no libtorch: the `flowmap` binary does not link it and
/// runs with no libtorch on the library path.
#[test]
fn the_flowmap_binary_runs_without_libtorch() {
    let exe = profile_dir().join("flowmap");
    let ldd = Command::new("ldd").arg(&exe).output();
    if let Ok(o) = ldd {
        let deps = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            !deps.contains("torch") && !deps.contains("c10"),
            "flowmap links libtorch:\n{deps}"
        );
    }
    let o = Command::new(&exe)
        .arg("datasets")
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LIBTORCH")
        .output()
        .unwrap();
    assert!(
        o.status.success() && text(&o).contains("checkerboard"),
        "{}",
        text(&o)
    );
}
