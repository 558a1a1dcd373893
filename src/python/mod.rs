//! The Python binding: the only place where pyo3, numpy and pyo3-tch appear.

mod detection;
mod errors;
mod losses;
mod samplers;

use pyo3::prelude::*;

/// After a fork, a child must not touch the parent's rayon pool (its threads are gone).
extern "C" fn disable_parallelism_in_child() {
    if crate::parallel::has_been_used() {
        crate::parallel::set_enabled(false);
    }
}

#[pymodule]
fn _core(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    // libtorch must already be in the process: the Python package imports torch first, and this
    // makes a direct `import longtail._core` safe too.
    py.import("torch")?;
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe {
        libc::pthread_atfork(None, None, Some(disable_parallelism_in_child));
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    losses::register(m)?;
    detection::register(m)?;
    samplers::register(m)?;
    Ok(())
}
