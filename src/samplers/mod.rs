//! Index generation for the re-sampling methods (pure Rust, no libtorch).
