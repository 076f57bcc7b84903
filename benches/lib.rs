//! Nothing to link against: this crate exists for its `[[bench]]` targets (Cargo needs a
//! library or binary target in every package). The shared benchmark code is `common/`.
