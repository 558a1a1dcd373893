//! The Python binding: the only place where pyo3 and rust-numpy appear. One file per core
//! module (`softmax`, `sigmoid`, `seesaw`, `group_softmax`, `samplers`), `arrays` for the shared
//! NumPy plumbing and `errors` for the exception mapping and the entry guard every function
//! runs in. No libtorch: the Python package hands over the tensors' memory as NumPy views.

mod arrays;
mod errors;
mod group_softmax;
mod samplers;
mod seesaw;
mod sigmoid;
mod softmax;

use pyo3::prelude::*;

/// After a fork, a child must not touch the parent's rayon pool (its threads are gone).
extern "C" fn disable_parallelism_in_child() {
    if crate::parallel::has_been_used() {
        crate::parallel::set_enabled(false);
    }
}

/// The kernels' build facts, for `longtail.show_config()`.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let info = pyo3::types::PyDict::new(py);
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    info.set_item("simd", crate::losses::simd_level())?;
    info.set_item("threads", rayon::current_num_threads())?;
    info.set_item("parallel", crate::parallel::enabled())?;
    Ok(info)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe {
        libc::pthread_atfork(None, None, Some(disable_parallelism_in_child));
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    softmax::register(m)?;
    sigmoid::register(m)?;
    seesaw::register(m)?;
    group_softmax::register(m)?;
    samplers::register(m)?;
    Ok(())
}
