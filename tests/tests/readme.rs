//! The README's commands, run as written (on a tiny budget): every `$T …` line of "Using the
//! trainer" through `flowmap-train` and every `$F …` line through `flowmap`, in order, in one
//! directory, so a README that drifts from the tools fails here.

mod common;

use common::{bin, repo_root, tempdir, text, TINY};

/// The `$X …` command lines of the README's fenced blocks (comments stripped).
fn commands(readme: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut in_block = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let Some(rest) = line.strip_prefix(prefix).filter(|_| in_block) else {
            continue;
        };
        let rest = rest.split(" # ").next().unwrap();
        out.push(rest.split_whitespace().map(String::from).collect());
    }
    out
}

/// A README command made tiny: training runs take a few steps on a small net; evaluations a
/// few hundred samples and a short ODE baseline.
fn tiny(mut args: Vec<String>) -> Vec<String> {
    match args.first().map(String::as_str) {
        Some("train") if !args.iter().any(|a| a == "--help") => {
            match args.iter().position(|a| a == "--steps") {
                Some(i) => {
                    let resumed = args.iter().any(|a| a == "--resume");
                    args[i + 1] = if resumed { "30" } else { "20" }.into();
                }
                None => args.extend(["--steps", "20"].map(String::from)),
            }
            args.extend(TINY.iter().map(|s| s.to_string()));
        }
        Some("eval") => {
            args.extend(["--n", "200", "--ode-nfe", "1,2,4"].map(String::from));
        }
        _ => {}
    }
    args
}

#[test]
fn the_readmes_commands_run_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let trainer = commands(&readme, "$T ");
    let cli = commands(&readme, "$F ");
    // The README must keep showing these (a silent rewrite would make this test vacuous).
    for sub in ["datasets", "train", "eval", "sample", "export", "inspect"] {
        assert!(
            trainer.iter().any(|c| c[0] == sub),
            "README lost `$T {sub}`"
        );
    }
    for sub in ["eval", "sample", "inspect"] {
        assert!(cli.iter().any(|c| c[0] == sub), "README lost `$F {sub}`");
    }
    let dir = tempdir("readme");
    // The commands run from a checkout's root, where scripts/setup.sh put the image data
    // (.deps/fashion-mnist) that the image commands name.
    std::os::unix::fs::symlink(repo_root().join(".deps"), dir.join(".deps")).unwrap();
    for (name, cmds) in [("flowmap-train", &trainer), ("flowmap", &cli)] {
        for c in cmds.iter() {
            let args = tiny(c.clone());
            let o = bin(name).args(&args).current_dir(&dir).output().unwrap();
            assert!(
                o.status.success(),
                "`{name} {}` failed:\n{}",
                args.join(" "),
                text(&o)
            );
            if args[0] == "eval" {
                assert!(text(&o).contains("floor"), "{}", text(&o));
            }
        }
    }
    // What the commands promise to leave behind.
    for f in [
        "runs/checker/model.safetensors",
        "runs/checker/checkpoint.safetensors",
        "samples.csv",
        "samples.npy",
        "m16.safetensors",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
}
