//! The Python exception classes, declared once, and the one conversion from `CoreError`.
//! Each class subclasses the built-in exception a PyTorch user already catches.

use pyo3::create_exception;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::CoreError;

create_exception!(
    longtail.exceptions,
    ShapeError,
    PyValueError,
    "An argument has the wrong shape or length."
);
create_exception!(
    longtail.exceptions,
    InvalidArgumentError,
    PyValueError,
    "An argument has a value outside its domain."
);
create_exception!(
    longtail.exceptions,
    OutOfRangeError,
    PyIndexError,
    "A label or index lies outside its range."
);
create_exception!(
    longtail.exceptions,
    DTypeError,
    PyTypeError,
    "An argument has an unsupported dtype."
);
create_exception!(
    longtail.exceptions,
    TorchError,
    PyRuntimeError,
    "libtorch reported an error."
);

/// Converts a core error into its Python exception (one exhaustive match).
pub fn to_py_err(err: CoreError) -> PyErr {
    match err {
        CoreError::Shape(msg) => ShapeError::new_err(msg),
        CoreError::InvalidArgument(msg) => InvalidArgumentError::new_err(msg),
        CoreError::OutOfRange(msg) => OutOfRangeError::new_err(msg),
        CoreError::DType(msg) => DTypeError::new_err(msg),
        CoreError::Torch(msg) => TorchError::new_err(msg),
    }
}

/// Runs a core call, turning its error into the Python exception and a panic (a bug, never
/// expected) into a `RuntimeError` instead of pyo3's `PanicException`, which derives from
/// `BaseException` and would escape `except Exception`.
pub fn guard<T>(f: impl FnOnce() -> crate::Result<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(to_py_err),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(TorchError::new_err(format!(
                "longtail internal error (please report): {msg}"
            )))
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add(
        "InvalidArgumentError",
        py.get_type::<InvalidArgumentError>(),
    )?;
    m.add("OutOfRangeError", py.get_type::<OutOfRangeError>())?;
    m.add("DTypeError", py.get_type::<DTypeError>())?;
    m.add("TorchError", py.get_type::<TorchError>())?;
    Ok(())
}
