//! The core of longtail: loss kernels and sampler index generation for long-tailed recognition.
//!
//! Everything here is plain Rust over slices: no Python types. The CPU loss kernels compute a
//! loss and its gradient in one pass, rows split across rayon; the `torch` feature adds the same
//! math as libtorch ops (for CUDA tensors). The Python binding lives in `python/`, behind the
//! `python` feature, and is the only place that knows about pyo3.

pub mod error;
pub mod losses;
pub mod parallel;
pub mod samplers;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, Result};
