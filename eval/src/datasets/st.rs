//! Reading one tensor of a `.safetensors` file as a dataset.

use super::dataset::{from_shaped, Dataset};
use super::error::DataError;
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use std::path::PathBuf;

fn mem() -> PathBuf {
    PathBuf::from("<memory>")
}

/// Parses safetensors bytes and returns the tensor named `key`, or the only tensor when `key`
/// is `None`. Dtypes F32, F64, F16 and BF16 are converted to f32; the first axis is the row
/// axis, exactly as for `.npy` (1-D gives `n × 1`).
pub fn parse_safetensors(bytes: &[u8], key: Option<&str>) -> Result<Dataset, DataError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| DataError::Malformed {
        path: mem(),
        reason: format!("safetensors: {e}"),
    })?;
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let name = match (key, names.as_slice()) {
        (Some(k), _) if names.iter().any(|n| n == k) => k.to_string(),
        (Some(k), _) => {
            return Err(DataError::MissingKey {
                path: mem(),
                key: k.to_string(),
                available: names,
            })
        }
        (None, []) => return Err(DataError::Empty { path: mem() }),
        (None, [only]) => only.clone(),
        (None, _) => return Err(DataError::MultipleTensors { path: mem(), names }),
    };
    let view = st.tensor(&name).map_err(|e| DataError::Malformed {
        path: mem(),
        reason: format!("tensor {name:?}: {e}"),
    })?;
    let data = tensor_to_f32(view.dtype(), view.data())?;
    from_shaped(data, view.shape())
}

/// Little-endian safetensors tensor bytes (F32, F64, F16, BF16) to f32: the one conversion the
/// evaluation and the trainer share. (The runtime keeps its own: it is `no_std` and
/// dependency-light and cannot depend on this crate.)
pub fn tensor_to_f32(dtype: Dtype, raw: &[u8]) -> Result<Vec<f32>, DataError> {
    let two = |c: &[u8]| [c[0], c[1]];
    Ok(match dtype {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes(two(c)).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes(two(c)).to_f32())
            .collect(),
        other => {
            return Err(DataError::UnsupportedDtype {
                path: mem(),
                dtype: format!("{other:?}"),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f32s(xs: &[f32]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_all_float_dtypes() {
        let want = [1.5f32, -2.0, 0.25, 8.0];
        let cases = [
            (Dtype::F32, f32s(&want)),
            (
                Dtype::F64,
                want.iter()
                    .flat_map(|&x| f64::from(x).to_le_bytes())
                    .collect(),
            ),
            (
                Dtype::F16,
                want.iter()
                    .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
            (
                Dtype::BF16,
                want.iter()
                    .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
        ];
        for (d, bytes) in cases {
            let ds = parse_safetensors(&file(&[("x", d, vec![2, 2], bytes)]), None).unwrap();
            assert_eq!(
                (ds.n, ds.data_shape.clone(), ds.data),
                (2, vec![2], want.to_vec()),
                "{d:?}"
            );
        }
    }

    #[test]
    fn keys_and_errors() {
        let two = file(&[
            ("a", Dtype::F32, vec![2], f32s(&[1.0, 2.0])),
            ("b", Dtype::F32, vec![1, 1, 2], f32s(&[3.0, 4.0])),
        ]);
        let b = parse_safetensors(&two, Some("b")).unwrap();
        assert_eq!((b.n, b.data_shape), (1, vec![1, 2]));
        assert_eq!(
            parse_safetensors(&two, Some("a")).unwrap().data_shape,
            vec![1]
        );
        assert!(matches!(
            parse_safetensors(&two, None),
            Err(DataError::MultipleTensors { .. })
        ));
        match parse_safetensors(&two, Some("c")) {
            Err(DataError::MissingKey { available, .. }) => assert_eq!(available, ["a", "b"]),
            other => panic!("{other:?}"),
        }
        let ints = file(&[("i", Dtype::I32, vec![1], vec![0, 0, 0, 0])]);
        assert!(matches!(
            parse_safetensors(&ints, None),
            Err(DataError::UnsupportedDtype { .. })
        ));
        let inf = file(&[("x", Dtype::F32, vec![2, 1], f32s(&[0.0, f32::INFINITY]))]);
        assert!(matches!(
            parse_safetensors(&inf, None),
            Err(DataError::NonFinite { row: 1, .. })
        ));
        assert!(matches!(
            parse_safetensors(b"garbage!", None),
            Err(DataError::Malformed { .. })
        ));
        let empty = safetensors::serialize(Vec::<(String, TensorView<'_>)>::new(), None).unwrap();
        assert!(matches!(
            parse_safetensors(&empty, None),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn load_from_file_names_the_path() {
        let dir = std::env::temp_dir().join(format!("flowmap-eval-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.safetensors");
        std::fs::write(&p, file(&[("x", Dtype::F32, vec![1], f32s(&[f32::NAN]))])).unwrap();
        let e = crate::datasets::load(&p, None).unwrap_err();
        assert_eq!(e.path(), p.as_path());
        assert!(e.to_string().contains("d.safetensors"), "{e}");
        let ok = dir.join("ok.safetensors");
        std::fs::write(&ok, file(&[("x", Dtype::F32, vec![1], f32s(&[2.0]))])).unwrap();
        assert_eq!(
            crate::datasets::load(&ok, Some("x")).unwrap().data,
            vec![2.0]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
