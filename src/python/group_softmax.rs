//! Binding of `crate::losses::group_softmax`: the fused group-softmax (BAGS) kernel on NumPy
//! views of the tensors' memory, with the GIL released.

use numpy::{Element, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::arrays::{check_out, float_of, read, slice, slice_mut, write, Float};
use super::errors::guard;
use crate::error::CoreError;
use crate::losses::group_softmax::{group_softmax_loss, GroupSoftmaxParams};
use crate::losses::{Real, Reduction};

#[allow(clippy::too_many_arguments)] // the arrays of one call, each typed here
fn run<T: Real + Element>(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    targets: &Bound<'_, PyAny>,
    weights: &Bound<'_, PyAny>,
    offsets: &[usize],
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    reduction: Reduction,
) -> PyResult<()> {
    let x = read::<T>("input", input)?;
    let t = read::<i64>("targets", targets)?;
    let w = read::<T>("weights", weights)?;
    let shape = x.shape();
    let groups = offsets.len().saturating_sub(1);
    if shape.len() != 2 || Some(&shape[1]) != offsets.last() {
        return Err(CoreError::shape(format!(
            "input should have shape (N, {}) for offsets={offsets:?}, but got input of shape {shape:?}",
            offsets.last().unwrap_or(&0)
        ))
        .into());
    }
    for (name, s) in [("targets", t.shape()), ("weights", w.shape())] {
        if s != [shape[0], groups] {
            return Err(CoreError::shape(format!(
                "{name} should have shape ({}, {groups}), but got {name} of shape {s:?}",
                shape[0]
            ))
            .into());
        }
    }
    let params = GroupSoftmaxParams::<T> {
        offsets,
        targets: slice(&t),
        weights: slice(&w),
        reduction,
    };
    let mut l = write::<T>("loss", loss)?;
    let mut g = write::<T>("grad", grad)?;
    let loss_len = if reduction == Reduction::None {
        shape[0]
    } else {
        1
    };
    check_out("loss", &l, loss_len)?;
    check_out("grad", &g, x.len())?;
    let xs = slice(&x);
    let (ls, gs) = (slice_mut(&mut l), slice_mut(&mut g));
    py.allow_threads(|| group_softmax_loss(xs, &params, ls, gs))?;
    Ok(())
}

/// `group_softmax_loss(input, targets, weights, offsets, loss, grad, *, reduction)`: the group
/// softmax loss of `(N, K)` logits cut into consecutive column groups at `offsets` (from 0 to
/// K), with `(N, G)` int64 target positions and weights, into `loss` (`(N,)` for
/// `reduction="none"`, else one element) and its gradient into `grad`.
#[pyfunction(name = "group_softmax_loss")]
#[pyo3(signature = (input, targets, weights, offsets, loss, grad, *, reduction="mean"))]
#[allow(clippy::too_many_arguments)] // the Python arguments, one each
fn group_softmax_loss_py(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    targets: &Bound<'_, PyAny>,
    weights: &Bound<'_, PyAny>,
    offsets: Vec<usize>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    reduction: &str,
) -> PyResult<()> {
    guard(|| {
        let reduction: Reduction = reduction.parse()?;
        match float_of(input)? {
            Float::F32 => run::<f32>(py, input, targets, weights, &offsets, loss, grad, reduction),
            Float::F64 => run::<f64>(py, input, targets, weights, &offsets, loss, grad, reduction),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_softmax_loss_py, m)?)
}
