//! The `ndarray` feature (src/array.rs): arrays give the same results as slices, bit for bit,
//! in [batch, dim] and [batch, C, H, W] form; views are used in place; bad shapes, layouts
//! and sizes are typed errors that leave the output untouched.
#![cfg(feature = "ndarray")]

use flowmap::ndarray::{
    s, Array, Array2, Array3, Array4, ArrayD, Ix2, Ix3, Ix4, IxDyn, ShapeBuilder,
};
use flowmap::schema::*;
use flowmap::{ArrayError, EvalError, Grid, Model, NormalRng};

/// The example 2-D model.
fn points_model() -> Model {
    Model::from_bytes(&flowmap::write::example_model_bytes()).unwrap()
}

/// An MLP whose data points have shape [C, H, W] = [2, 2, 3] (as image models will).
fn image_model() -> Model {
    let data_shape = vec![2, 2, 3];
    let dim = 12;
    let hidden = vec![16];
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape,
            hidden: hidden.clone(),
            activation: Activation::Silu,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: (0..dim).map(|i| i as f32 * 0.1).collect(),
            std: (0..dim).map(|i| 1.0 + i as f32 * 0.05).collect(),
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 1,
            seed: 1,
            weights: "raw".into(),
            trainer: "runtime/tests/array.rs".into(),
            dataset: String::new(),
        },
    };
    let widths = [2 + dim, hidden[0], dim];
    let mut rng = NormalRng::new(5);
    let mut tensors = Vec::new();
    for (i, w) in widths.windows(2).enumerate() {
        let mut weight = vec![0.0f32; w[0] * w[1]];
        rng.fill(&mut weight);
        weight.iter_mut().for_each(|v| *v *= 0.3);
        let mut bias = vec![0.0f32; w[1]];
        rng.fill(&mut bias);
        tensors.push((format!("layers.{i}.weight"), vec![w[1], w[0]], weight));
        tensors.push((format!("layers.{i}.bias"), vec![w[1]], bias));
    }
    let t: Vec<(&str, Vec<usize>, &[f32])> = tensors
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.clone(), d.as_slice()))
        .collect();
    Model::from_bytes(&flowmap::write::to_safetensors_bytes(&meta, &t)).unwrap()
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn normal(len: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0f32; len];
    NormalRng::new(seed).fill(&mut v);
    v
}

#[test]
fn array2_results_equal_slice_results() {
    let m = points_model();
    let batch = 7;
    let n = batch * m.dim();
    let mut ws = m.workspace(batch);

    let mut want = vec![0.0f32; n];
    m.sample_seeded(&mut ws, 3, Grid::Uniform(2), &mut want)
        .unwrap();
    let mut got: Array2<f32> = m.zeros_array(batch).unwrap();
    assert_eq!(got.shape(), &[batch, m.dim()]);
    m.sample_seeded_array(&mut ws, 3, Grid::Uniform(2), &mut got)
        .unwrap();
    assert!(same_bits(got.as_slice().unwrap(), &want));

    let noise = normal(n, 9);
    let grid = [0.0, 0.3, 1.0];
    m.sample(&mut ws, &noise, Grid::Custom(&grid), &mut want)
        .unwrap();
    let noise_a = Array2::from_shape_vec((batch, m.dim()), noise).unwrap();
    m.sample_array(&mut ws, &noise_a, Grid::Custom(&grid), &mut got)
        .unwrap();
    assert!(same_bits(got.as_slice().unwrap(), &want));

    let x = normal(n, 10);
    let x_a = Array2::from_shape_vec((batch, m.dim()), x.clone()).unwrap();
    m.map(&mut ws, 0.2, 0.9, &x, &mut want).unwrap();
    m.map_array(&mut ws, 0.2, 0.9, &x_a.view(), &mut got.view_mut())
        .unwrap();
    assert!(same_bits(got.as_slice().unwrap(), &want));
    m.velocity(&mut ws, 0.4, &x, &mut want).unwrap();
    m.velocity_array(&mut ws, 0.4, &x_a, &mut got).unwrap();
    assert!(same_bits(got.as_slice().unwrap(), &want));
}

#[test]
fn image_shaped_arrays_work_as_batch_c_h_w_and_as_batch_dim() {
    let m = image_model();
    assert_eq!(m.data_shape(), &[2, 2, 3]);
    let batch = 5;
    let mut ws = m.workspace(batch);
    let mut flat = vec![0.0f32; batch * m.dim()];
    m.sample_seeded(&mut ws, 11, Grid::Uniform(1), &mut flat)
        .unwrap();

    let mut images: Array4<f32> = m.zeros_array(batch).unwrap();
    assert_eq!(images.shape(), &[batch, 2, 2, 3]);
    m.sample_seeded_array(&mut ws, 11, Grid::Uniform(1), &mut images)
        .unwrap();
    assert!(same_bits(images.as_slice().unwrap(), &flat));

    let mut dynamic: ArrayD<f32> = m.zeros_array(batch).unwrap();
    assert_eq!(dynamic.shape(), &[batch, 2, 2, 3]);
    m.sample_seeded_array(&mut ws, 11, Grid::Uniform(1), &mut dynamic)
        .unwrap();
    assert!(same_bits(dynamic.as_slice().unwrap(), &flat));

    // [batch, C, H, W] in, [batch, dim] out (and the reverse) hold the same points.
    let mut rows: Array2<f32> = m.zeros_array(batch).unwrap();
    assert_eq!(rows.shape(), &[batch, 12]);
    let mut want = vec![0.0f32; flat.len()];
    m.map(&mut ws, 0.0, 0.5, &flat, &mut want).unwrap();
    m.map_array(&mut ws, 0.0, 0.5, &images, &mut rows).unwrap();
    assert!(same_bits(rows.as_slice().unwrap(), &want));
    m.map_array(&mut ws, 0.0, 0.5, &images.view(), &mut images.clone())
        .unwrap();
    let mut back = Array4::<f32>::zeros((batch, 2, 2, 3));
    m.map_array(
        &mut ws,
        0.0,
        0.5,
        &Array2::from_shape_vec((batch, 12), flat).unwrap(),
        &mut back,
    )
    .unwrap();
    assert!(same_bits(back.as_slice().unwrap(), &want));

    // Three axes fit neither [batch, 12] nor [batch, 2, 2, 3].
    assert!(matches!(
        m.zeros_array::<Ix3>(2),
        Err(ArrayError::Rank { ndim: 3, .. })
    ));
}

#[test]
fn views_are_written_in_place() {
    let m = points_model();
    let dim = m.dim();
    let mut ws = m.workspace(4);
    let mut want = vec![0.0f32; 4 * dim];
    m.sample_seeded(&mut ws, 1, Grid::Uniform(1), &mut want)
        .unwrap();

    // Rows 3..7 of a larger array are contiguous: sampled straight into its memory.
    let mut big = Array2::<f32>::from_elem((10, dim), -7.0);
    m.sample_seeded_array(
        &mut ws,
        1,
        Grid::Uniform(1),
        &mut big.slice_mut(s![3..7, ..]),
    )
    .unwrap();
    assert!(same_bits(
        big.slice(s![3..7, ..])
            .as_standard_layout()
            .as_slice()
            .unwrap(),
        &want
    ));
    for r in (0..3).chain(7..10) {
        assert!(big.row(r).iter().all(|&v| v == -7.0), "row {r} was touched");
    }
    // The input can be a view into another array, too.
    let src = big.slice(s![3..7, ..]);
    let mut out = Array2::<f32>::zeros((4, dim));
    m.map_array(&mut ws, 0.3, 0.3, &src, &mut out).unwrap();
    assert!(same_bits(out.as_slice().unwrap(), &want)); // X_{s,s} is the identity
}

#[test]
fn non_standard_layouts_are_refused_and_copies_work() {
    let m = points_model();
    let dim = m.dim();
    let mut ws = m.workspace(8);
    let x = Array2::from_shape_vec((8, dim), normal(8 * dim, 4)).unwrap();
    let mut out = Array2::<f32>::from_elem((4, dim), 5.0);

    // Every other row: strided, not contiguous.
    let strided = x.slice(s![..;2, ..]);
    let err = m
        .map_array(&mut ws, 0.0, 1.0, &strided, &mut out)
        .unwrap_err();
    assert_eq!(err, ArrayError::Layout { which: "x" });
    assert!(err.to_string().contains("as_standard_layout"), "{err}");
    assert!(out.iter().all(|&v| v == 5.0));
    // The documented way out: an explicit contiguous copy.
    m.map_array(&mut ws, 0.0, 1.0, &strided.as_standard_layout(), &mut out)
        .unwrap();
    let mut want = vec![0.0f32; 4 * dim];
    let rows: Vec<f32> = strided.iter().copied().collect();
    m.map(&mut ws, 0.0, 1.0, &rows, &mut want).unwrap();
    assert!(same_bits(out.as_slice().unwrap(), &want));

    // A transposed (column-major) output of the right shape.
    let mut t = Array2::<f32>::zeros((dim, 4));
    let before = t.clone();
    let err = m
        .sample_seeded_array(
            &mut ws,
            1,
            Grid::Uniform(1),
            &mut t.view_mut().reversed_axes(),
        )
        .unwrap_err();
    assert_eq!(err, ArrayError::Layout { which: "out" });
    assert_eq!(t, before);
    // Column-major arrays are refused even though contiguous (their order is not row-major).
    let mut f = Array2::<f32>::zeros((4, dim).f());
    assert!(matches!(
        m.sample_seeded_array(&mut ws, 1, Grid::Uniform(1), &mut f),
        Err(ArrayError::Layout { which: "out" })
    ));
}

#[test]
fn wrong_shapes_are_typed_errors() {
    let m = points_model();
    let mut ws = m.workspace(4);
    let mut out = Array2::<f32>::from_elem((4, 2), 5.0);

    let wide = Array2::<f32>::zeros((4, 3));
    let err = m.map_array(&mut ws, 0.0, 1.0, &wide, &mut out).unwrap_err();
    assert_eq!(
        err,
        ArrayError::Shape {
            which: "x",
            shape: vec![4, 3],
            data_shape: vec![2]
        }
    );
    assert!(err.to_string().contains("[batch, 2]"), "{err}");
    // No batch axis.
    let flat = Array::from_vec(vec![0.0f32; 8]);
    assert!(matches!(
        m.map_array(&mut ws, 0.0, 1.0, &flat, &mut out),
        Err(ArrayError::Shape { which: "x", .. })
    ));
    let mut three = Array3::<f32>::zeros((4, 1, 2));
    assert!(matches!(
        m.sample_seeded_array(&mut ws, 1, Grid::Uniform(1), &mut three),
        Err(ArrayError::Shape { which: "out", .. })
    ));
    let mut scalar = ArrayD::<f32>::zeros(IxDyn(&[]));
    assert!(matches!(
        m.sample_seeded_array(&mut ws, 1, Grid::Uniform(1), &mut scalar),
        Err(ArrayError::Shape { which: "out", .. })
    ));
    // Unequal batches: the model's own length check.
    let x = Array2::<f32>::zeros((3, 2));
    assert!(matches!(
        m.map_array(&mut ws, 0.0, 1.0, &x, &mut out),
        Err(ArrayError::Eval(EvalError::OutputLength { .. }))
    ));
    assert!(out.iter().all(|&v| v == 5.0));

    // zeros_array: a 4-axis array for 2-D points.
    let err = m.zeros_array::<Ix4>(3).unwrap_err();
    assert_eq!(
        err,
        ArrayError::Rank {
            ndim: 4,
            data_shape: vec![2]
        }
    );
    assert!(err.to_string().contains("2 axes"), "{err}");
}

#[test]
fn evaluation_errors_pass_through_and_leave_out_untouched() {
    let m = points_model();
    let mut ws = m.workspace(2);
    let mut out = Array2::<f32>::from_elem((2, 2), 5.0);
    let mut x = Array2::<f32>::zeros((2, 2));
    x[[1, 0]] = f32::NAN;
    let err = m.map_array(&mut ws, 0.0, 1.0, &x, &mut out).unwrap_err();
    assert_eq!(
        err,
        ArrayError::Eval(EvalError::NonFiniteInput { index: 2 })
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(m
        .sample_seeded_array(&mut ws, 1, Grid::Uniform(0), &mut out)
        .is_err());
    assert!(m
        .velocity_array(
            &mut ws,
            f32::INFINITY,
            &Array2::<f32>::zeros((2, 2)),
            &mut out
        )
        .is_err());
    assert!(out.iter().all(|&v| v == 5.0));
}

#[test]
fn zeros_array_sizes() {
    let m = points_model();
    let empty: Array2<f32> = m.zeros_array(0).unwrap();
    assert_eq!(empty.shape(), &[0, 2]);
    let mut empty = empty;
    let mut ws = m.workspace(1);
    m.sample_seeded_array(&mut ws, 1, Grid::Uniform(1), &mut empty)
        .unwrap();
    // Absurd batches are errors, not panics or aborts.
    // (2^58 points pass the size checks, then the allocation itself fails.)
    for batch in [usize::MAX, usize::MAX / 2, isize::MAX as usize / 4, 1 << 58] {
        assert_eq!(
            m.zeros_array::<Ix2>(batch).unwrap_err(),
            ArrayError::Eval(EvalError::OutOfMemory { batch })
        );
    }
}
