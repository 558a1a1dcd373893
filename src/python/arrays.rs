//! The NumPy plumbing shared by the loss bindings: typed, C-contiguous views of the arrays the
//! Python package hands over (the memory of torch tensors, through `Tensor.numpy()`), checked
//! once here so that each binding only states its shapes.

use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::error::CoreError;

/// The two element types the loss kernels compute in (float16/bfloat16 logits are cast to
/// float32 by the Python package first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    F32,
    F64,
}

fn describe(a: &Bound<'_, PyAny>) -> String {
    match a.downcast::<PyUntypedArray>() {
        Ok(arr) => format!("an array of dtype {}", arr.dtype()),
        Err(_) => format!("an object of type {}", a.get_type()),
    }
}

/// The element type of the logits `input`.
pub fn float_of(input: &Bound<'_, PyAny>) -> PyResult<Float> {
    let py = input.py();
    if let Ok(arr) = input.downcast::<PyUntypedArray>() {
        let dt = arr.dtype();
        if dt.is_equiv_to(&numpy::dtype::<f32>(py)) {
            return Ok(Float::F32);
        }
        if dt.is_equiv_to(&numpy::dtype::<f64>(py)) {
            return Ok(Float::F64);
        }
    }
    Err(CoreError::dtype(format!(
        "input should be a float32 or float64 array, but got {}",
        describe(input)
    ))
    .into())
}

fn typed<'a, 'py, T: Element>(
    name: &str,
    a: &'a Bound<'py, PyAny>,
) -> PyResult<&'a Bound<'py, PyArrayDyn<T>>> {
    let arr = a.downcast::<PyArrayDyn<T>>().map_err(|_| {
        CoreError::dtype(format!(
            "{name} should be an array of {}, but got {}",
            std::any::type_name::<T>(),
            describe(a)
        ))
    })?;
    if !arr.is_c_contiguous() {
        return Err(CoreError::shape(format!("{name} should be C-contiguous")).into());
    }
    Ok(arr)
}

/// A read-only view of a C-contiguous array of `T`.
pub fn read<'py, T: Element>(
    name: &str,
    a: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    Ok(typed::<T>(name, a)?.try_readonly()?)
}

/// [`read`] of an optional argument.
pub fn read_opt<'py, T: Element>(
    name: &str,
    a: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    a.map(|a| read::<T>(name, a)).transpose()
}

/// A writable view of a C-contiguous output array of `T`; borrowing fails (instead of
/// aliasing) when the same memory is also passed as another argument.
pub fn write<'py, T: Element>(
    name: &str,
    a: &Bound<'py, PyAny>,
) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    Ok(typed::<T>(name, a)?.try_readwrite()?)
}

/// The memory of a view (C-contiguous by construction).
pub fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>) -> &'a [T] {
    a.as_slice().expect("checked C-contiguous")
}

/// [`slice`] of an optional view.
pub fn slice_opt<'a, T: Element>(a: &'a Option<PyReadonlyArrayDyn<'_, T>>) -> Option<&'a [T]> {
    a.as_ref().map(slice)
}

/// The writable memory of an output view.
pub fn slice_mut<'a, T: Element>(a: &'a mut PyReadwriteArrayDyn<'_, T>) -> &'a mut [T] {
    a.as_slice_mut().expect("checked C-contiguous")
}

/// Checks that a 1-D parameter has `len` entries, one per `what`.
pub fn check_len<T: Element>(
    name: &str,
    a: &Option<PyReadonlyArrayDyn<'_, T>>,
    len: usize,
    what: &str,
) -> Result<(), CoreError> {
    match a {
        Some(a) if a.shape() != [len] => Err(CoreError::shape(format!(
            "{name} should have shape ({len},), one entry per {what}, but got {name} of shape {:?}",
            a.shape()
        ))),
        _ => Ok(()),
    }
}

/// Checks that an output holds `len` elements.
pub fn check_out<T: Element>(
    name: &str,
    a: &PyReadwriteArrayDyn<'_, T>,
    len: usize,
) -> Result<(), CoreError> {
    if a.len() != len {
        return Err(CoreError::shape(format!(
            "{name} should hold {len} elements, but got {name} of shape {:?}",
            a.shape()
        )));
    }
    Ok(())
}
