//! The one conversion from `CoreError` to a Python exception, and the entry guard.
//!
//! The exception classes are declared once, in `longtail/exceptions.py` (each subclasses both
//! `LongtailError` and the built-in a PyTorch user already catches, which `create_exception!`
//! cannot express); `CoreError::class_name` is the exhaustive mapping onto them.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::CoreError;

/// Converts a core error into its `longtail.exceptions` class.
pub fn to_py_err(err: CoreError) -> PyErr {
    Python::with_gil(|py| {
        let class = py
            .import("longtail.exceptions")
            .and_then(|m| m.getattr(err.class_name()))
            .and_then(|c| Ok(c.downcast_into::<PyType>()?));
        match class {
            Ok(class) => PyErr::from_type(class, err.to_string()),
            // `_core` loaded on its own, without the package: the nearest built-in.
            Err(_) => match err {
                CoreError::Shape(m) | CoreError::InvalidArgument(m) => PyValueError::new_err(m),
                CoreError::OutOfRange(m) => PyIndexError::new_err(m),
                CoreError::DType(m) => PyTypeError::new_err(m),
                CoreError::Torch(m) | CoreError::Internal(m) => PyRuntimeError::new_err(m),
            },
        }
    })
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        to_py_err(err)
    }
}

/// Runs one binding body: every `#[pyfunction]` goes through here. Its error becomes the
/// Python exception, and a panic (a bug, never expected) becomes
/// `longtail.exceptions.InternalError`, a `RuntimeError`, instead of pyo3's `PanicException`,
/// which derives from `BaseException` and would escape `except Exception`.
pub fn guard<T, E: Into<PyErr>>(body: impl FnOnce() -> Result<T, E>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result.map_err(Into::into),
        Err(panic) => Err(to_py_err(CoreError::from_panic(panic.as_ref()))),
    }
}
