//! Binding of `crate::losses::softmax`: the fused softmax-family kernel on NumPy views of the
//! tensors' memory, with the GIL released.

use numpy::{Element, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::arrays::{
    check_len, check_out, float_of, read, read_opt, slice, slice_mut, slice_opt, write, Float,
};
use super::errors::guard;
use crate::error::CoreError;
use crate::losses::softmax::{softmax_loss, SoftmaxLossParams};
use crate::losses::{Layout, Real};

/// The `(N, C, D)` layout of `(N, C, d1, ...)` logits and their `(N, d1, ...)` target.
fn layout(input: &[usize], target: &[usize]) -> Result<Layout, CoreError> {
    if input.len() < 2 || input[1] == 0 {
        return Err(CoreError::shape(format!(
            "input should have shape (N, C) or (N, C, d1, ...) with C >= 1, but got input of shape {input:?}"
        )));
    }
    let mut want = vec![input[0]];
    want.extend_from_slice(&input[2..]);
    if target != want.as_slice() {
        return Err(CoreError::shape(format!(
            "target should have shape {want:?} for input of shape {input:?}, but got target of shape {target:?}"
        )));
    }
    Ok(Layout {
        n: input[0],
        c: input[1],
        d: input[2..].iter().product(),
    })
}

/// The arguments that are not arrays, as the Python call gives them.
struct Options<'a> {
    scale: f64,
    gamma: f64,
    label_smoothing: f64,
    ignore_index: i64,
    reduction: &'a str,
    normalization: &'a str,
    avg_factor: Option<f64>,
}

#[allow(clippy::too_many_arguments)] // the arrays of one call, each typed here
fn run<T: Real + Element>(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &PyReadonlyArrayDyn<'_, i64>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    per_class: [Option<&Bound<'_, PyAny>>; 4],
    opts: &Options<'_>,
) -> PyResult<()> {
    let x = read::<T>("input", input)?;
    let layout = layout(x.shape(), target.shape())?;
    let [offsets, margins, weight, alpha] = per_class;
    let offsets = read_opt::<T>("offsets", offsets)?;
    let margins = read_opt::<T>("margins", margins)?;
    let weight = read_opt::<T>("weight", weight)?;
    let alpha = read_opt::<T>("alpha", alpha)?;
    for (name, a) in [
        ("offsets", &offsets),
        ("margins", &margins),
        ("weight", &weight),
        ("alpha", &alpha),
    ] {
        check_len(name, a, layout.c, "class")?;
    }
    let params = SoftmaxLossParams::<T> {
        offsets: slice_opt(&offsets),
        margins: slice_opt(&margins),
        scale: T::from_f64(opts.scale),
        weight: slice_opt(&weight),
        alpha: slice_opt(&alpha),
        gamma: T::from_f64(opts.gamma),
        label_smoothing: T::from_f64(opts.label_smoothing),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction.parse()?,
        normalization: opts.normalization.parse()?,
        avg_factor: opts.avg_factor,
    };
    let mut l = write::<T>("loss", loss)?;
    let mut g = write::<T>("grad", grad)?;
    let loss_len = match params.reduction {
        crate::losses::Reduction::None => layout.rows(),
        _ => 1,
    };
    check_out("loss", &l, loss_len)?;
    check_out("grad", &g, layout.len())?;
    let (xs, ys) = (slice(&x), slice(target));
    let (ls, gs) = (slice_mut(&mut l), slice_mut(&mut g));
    py.allow_threads(|| softmax_loss(xs, ys, layout, &params, ls, gs))?;
    Ok(())
}

/// `softmax_loss(input, target, loss, grad, *, ...)`: the softmax-family loss of `input`
/// `(N, C, d...)` and int64 `target` `(N, d...)`, written into `loss` (one element, or the
/// target's shape for `reduction="none"`) and its gradient with respect to `input` into `grad`
/// (input's shape), in one pass.
#[pyfunction(name = "softmax_loss")]
#[pyo3(signature = (input, target, loss, grad, *, offsets=None, margins=None, scale=1.0,
    weight=None, alpha=None, gamma=0.0, label_smoothing=0.0, ignore_index=-100,
    reduction="mean", normalization="weight", avg_factor=None))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
fn softmax_loss_py(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    offsets: Option<&Bound<'_, PyAny>>,
    margins: Option<&Bound<'_, PyAny>>,
    scale: f64,
    weight: Option<&Bound<'_, PyAny>>,
    alpha: Option<&Bound<'_, PyAny>>,
    gamma: f64,
    label_smoothing: f64,
    ignore_index: i64,
    reduction: &str,
    normalization: &str,
    avg_factor: Option<f64>,
) -> PyResult<()> {
    guard(|| {
        let target = read::<i64>("target", target)?;
        let per_class = [offsets, margins, weight, alpha];
        let opts = Options {
            scale,
            gamma,
            label_smoothing,
            ignore_index,
            reduction,
            normalization,
            avg_factor,
        };
        match float_of(input)? {
            Float::F32 => run::<f32>(py, input, &target, loss, grad, per_class, &opts),
            Float::F64 => run::<f64>(py, input, &target, loss, grad, per_class, &opts),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax_loss_py, m)?)
}
