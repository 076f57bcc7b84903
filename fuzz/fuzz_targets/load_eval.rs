//! Arbitrary bytes → `Model::from_bytes`, then (when accepted) one evaluation of each kind on
//! a small batch: `map`, `velocity`, `sample` and `sample_seeded` on the batch-1 and the
//! batched path. Evaluation must return `Ok` with finite outputs or a typed `EvalError`.
#![no_main]

use flowmap::{EvalError, Grid, Model};
use libfuzzer_sys::fuzz_target;

/// Skip models whose evaluation would be slow (the file-size bound already limits them; this
/// keeps the executions per second high).
const MAX_PARAMS: usize = 1 << 16;
const MAX_DIM: usize = 1 << 10;

fn check(r: Result<(), EvalError>, out: &[f32]) {
    match r {
        Ok(()) => assert!(
            out.iter().all(|v| v.is_finite()),
            "Ok with a non-finite output"
        ),
        Err(EvalError::NonFiniteOutput { index }) => assert!(index < out.len()),
        Err(e) => panic!("unexpected evaluation error on valid arguments: {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Model::from_bytes(data) else {
        return;
    };
    let dim = m.dim();
    if m.num_parameters() > MAX_PARAMS || dim > MAX_DIM {
        return;
    }
    let mut ws = m.workspace(3);
    for batch in [1usize, 3] {
        let n = batch * dim;
        let x: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.7).sin() * 2.0).collect();
        let mut out = vec![0.0f32; n];
        check(m.map(&mut ws, 0.25, 0.75, &x, &mut out), &out);
        check(m.velocity(&mut ws, 0.5, &x, &mut out), &out);
        check(m.sample(&mut ws, &x, Grid::Uniform(2), &mut out), &out);
        check(
            m.sample_seeded(&mut ws, data.len() as u64, Grid::Uniform(1), &mut out),
            &out,
        );
        // Misuse is an error, not a panic.
        assert!(m.map(&mut ws, f32::NAN, 1.0, &x, &mut out).is_err());
        if n > 1 {
            assert!(
                m.map(&mut ws, 0.0, 1.0, &x[..n - 1], &mut out[..n - 1])
                    .is_err()
                    || dim == 1
            );
        }
    }
});
