//! Shared tensor plumbing of the accelerator's bindings, and the one entry guard.

use longtail::error::{CoreError, Result};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Kind, Tensor};

/// Converts a core error into its `longtail.exceptions` class (the classes live in Python,
/// declared once; `CoreError::class_name` is the one mapping).
fn to_py_err(py: Python<'_>, err: CoreError) -> PyErr {
    let class = py
        .import("longtail.exceptions")
        .and_then(|m| m.getattr(err.class_name()));
    match class {
        Ok(class) => PyErr::from_type(
            class.downcast_into().expect("an exception class"),
            err.to_string(),
        ),
        Err(import_error) => import_error,
    }
}

/// Runs one binding body: a core error becomes its Python exception, and a panic (a bug, never
/// expected) becomes `longtail.exceptions.InternalError` instead of pyo3's `PanicException`,
/// which derives from `BaseException` and would escape `except Exception`.
pub fn guard<T>(py: Python<'_>, body: impl FnOnce() -> Result<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result.map_err(|e| to_py_err(py, e)),
        Err(panic) => {
            let err = CoreError::from_panic(panic.as_ref());
            Err(match py.import("longtail.exceptions") {
                Ok(_) => to_py_err(py, err),
                Err(_) => PyRuntimeError::new_err(err.to_string()),
            })
        }
    }
}

/// A per-class (or per-sample) parameter as a contiguous tensor of the logits' dtype and device.
pub fn like(t: Option<PyTensor>, input: &Tensor) -> Result<Option<Tensor>> {
    t.map(|t| {
        let t = t.0;
        if t.kind() == input.kind() && t.device() == input.device() && t.is_contiguous() {
            return Ok(t); // the common case: the caller already cast it
        }
        Ok(t.f_to_device(input.device())?
            .f_to_kind(input.kind())?
            .f_contiguous()?)
    })
    .transpose()
}

/// Integer labels as int64 (the caller passes int64 already; anything else is converted).
pub fn labels(t: Tensor) -> Result<Tensor> {
    Ok(if t.kind() == Kind::Int64 {
        t
    } else {
        t.f_to_kind(Kind::Int64)?
    })
}

pub fn float_input(t: &Tensor) -> Result<()> {
    match t.kind() {
        Kind::Float | Kind::Double => Ok(()),
        k => Err(CoreError::dtype(format!(
            "input should be a float32 or float64 tensor, but got input of dtype {k:?}"
        ))),
    }
}
