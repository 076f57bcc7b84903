//! Arbitrary bytes → `Model::from_bytes`: must return `Ok` or a typed `LoadError`, never
//! panic, read out of bounds or allocate from a claimed size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match flowmap::Model::from_bytes(data) {
        Ok(m) => {
            // An accepted file is self-consistent.
            assert!(m.dim() > 0);
            assert_eq!(m.dim(), m.data_shape().iter().product::<usize>());
            let v = m.format_version();
            assert!(
                (flowmap::FORMAT_VERSION..=flowmap::schema::LATEST_FORMAT_VERSION).contains(&v)
            );
            assert!(v >= m.meta().architecture.format_version());
        }
        Err(e) => {
            // Every error renders a message.
            let _ = e.to_string();
        }
    }
});
