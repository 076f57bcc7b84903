//! Nothing to link against: this crate exists for its integration tests in tests/ (Cargo
//! needs a library or binary target in every package).
