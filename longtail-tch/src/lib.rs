//! `longtail_tch._tch`: longtail's CUDA accelerator. The loss formulas of `longtail`'s core
//! written as libtorch ops (tch), on the tensors' own device, for torch 2.13 only.
//!
//! `longtail` calls these after validating the arguments, and only for tensors its CPU kernels
//! do not take (CUDA), or when asked for (`backend="tch"`). One binding file per core module,
//! like `longtail._core`; `tensors.rs` holds the shared tensor plumbing and the entry guard.

mod group_softmax;
mod seesaw;
mod sigmoid;
mod softmax;
mod tensors;

use pyo3::prelude::*;

#[pymodule]
fn _tch(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    // libtorch must already be in the process (the torch wheel's own).
    py.import("torch")?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    softmax::register(m)?;
    sigmoid::register(m)?;
    seesaw::register(m)?;
    group_softmax::register(m)?;
    Ok(())
}
