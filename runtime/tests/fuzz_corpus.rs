//! Replays the committed fuzz corpus (fuzz/corpus/<target>/, minimised with `cargo fuzz
//! cmin`), the seed files (fuzz/seeds/) and any crash regressions (fuzz/regressions/) on
//! stable Rust: every file loads or fails with a typed error, and every accepted model
//! evaluates (map, velocity, sample, seeded sample; batch 1 and 3) to finite outputs or a
//! typed error. This is what the two fuzz targets check, without libFuzzer. See
//! docs/reliability.md.

use std::path::{Path, PathBuf};

use flowmap::{EvalError, Grid, Model};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn check(what: &Path, r: Result<(), EvalError>, out: &[f32]) {
    match r {
        Ok(()) => assert!(
            out.iter().all(|v| v.is_finite()),
            "{}: Ok with a non-finite output",
            what.display()
        ),
        Err(EvalError::NonFiniteOutput { index }) => assert!(index < out.len()),
        Err(e) => panic!("{}: unexpected evaluation error {e:?}", what.display()),
    }
}

/// The body of fuzz/fuzz_targets/load_eval.rs (which includes load.rs's checks).
fn replay(path: &Path) -> bool {
    let data = std::fs::read(path).unwrap();
    let m = match Model::from_bytes(&data) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return false;
        }
    };
    let dim = m.dim();
    assert_eq!(dim, m.data_shape().iter().product::<usize>());
    if m.num_parameters() > 1 << 16 || dim > 1 << 10 {
        return true;
    }
    let mut ws = m.workspace(3);
    for batch in [1usize, 3] {
        let n = batch * dim;
        let x: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.7).sin() * 2.0).collect();
        let mut out = vec![0.0f32; n];
        check(path, m.map(&mut ws, 0.25, 0.75, &x, &mut out), &out);
        check(path, m.velocity(&mut ws, 0.5, &x, &mut out), &out);
        check(
            path,
            m.sample(&mut ws, &x, Grid::Uniform(2), &mut out),
            &out,
        );
        let seed = data.len() as u64;
        check(
            path,
            m.sample_seeded(&mut ws, seed, Grid::Uniform(1), &mut out),
            &out,
        );
        assert!(m.map(&mut ws, f32::NAN, 1.0, &x, &mut out).is_err());
    }
    true
}

#[test]
fn committed_fuzz_corpus_replays_without_panic() {
    let root = fuzz_dir();
    let mut total = 0;
    let mut accepted = 0;
    for sub in ["corpus/load", "corpus/load_eval", "seeds", "regressions"] {
        for f in files(&root.join(sub)) {
            total += 1;
            accepted += replay(&f) as usize;
        }
    }
    eprintln!("replayed {total} fuzz inputs, {accepted} accepted models");
    // The corpus is committed: an empty directory means it went missing.
    assert!(
        total >= 50,
        "only {total} fuzz inputs found under {}",
        root.display()
    );
    assert!(accepted >= 5, "the seed models should load");
}
