//! The reference an evaluation scores against, and the second set behind its noise floor.

use super::error::QualityError;
use crate::datasets::{self, DataError, Dataset, Rng, Toy};

/// Seed of the random subsets taken from data files (fixed: the reference is a function of
/// the files and `n`).
const SUBSET_SEED: u64 = 12_345;

/// Reference samples for evaluation: fresh draws for a built-in set, otherwise two disjoint
/// random halves of the file (the model's data, so the floor is the sampling noise).
pub fn reference_sets(
    name: &str,
    key: Option<&str>,
    n: usize,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    if let Some(toy) = Toy::from_name(name) {
        return Ok((toy.sample(n, 1_000_003), toy.sample(n, 2_000_003)));
    }
    let ds = datasets::load_named(name, key, 0, 0)?;
    let mut idx: Vec<usize> = (0..ds.n).collect();
    Rng::new(SUBSET_SEED).shuffle(&mut idx);
    let half = (ds.n / 2).min(n);
    Ok((rows(&ds, &idx[..half]), rows(&ds, &idx[half..2 * half])))
}

fn rows(ds: &Dataset, ids: &[usize]) -> Vec<f32> {
    ids.iter().flat_map(|&i| ds.row(i).to_vec()).collect()
}

/// The reference and the floor's second set. Without `reference`: [`reference_sets`] of
/// `data`. With it (e.g. a held-out test split): a random subset of at most `n` rows of
/// `reference` is the reference, and a random subset of `data` of the same size (the training
/// data) is the second set, so the floor row measures how far the training data itself is from
/// the held-out set (the "train vs test" floor of an FID table). Built-in set names draw fresh
/// samples (`n` of them) for either. `key` names the tensor inside .safetensors files of both.
pub fn reference_and_floor_sets(
    data: &str,
    key: Option<&str>,
    reference: Option<&str>,
    n: usize,
) -> Result<(Vec<f32>, Vec<f32>), QualityError> {
    let Some(reference) = reference else {
        return Ok(reference_sets(data, key, n)?);
    };
    let held_out = datasets::load_named(reference, key, n, 1_000_003)?;
    let ref_ids = Rng::new(SUBSET_SEED).choose_indices(held_out.n, n);
    let train = datasets::load_named(data, key, ref_ids.len(), 2_000_003)?;
    if train.dim() != held_out.dim() {
        return Err(QualityError::Spec(format!(
            "the reference {reference} has rows of shape {:?}, the data {data} {:?}",
            held_out.data_shape, train.data_shape
        )));
    }
    let train_ids = Rng::new(SUBSET_SEED + 1).choose_indices(train.n, ref_ids.len());
    Ok((rows(&held_out, &ref_ids), rows(&train, &train_ids)))
}
