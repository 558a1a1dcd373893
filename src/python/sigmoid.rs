//! Binding of `crate::losses::sigmoid`: the fused sigmoid-family kernel on NumPy views of the
//! tensors' memory, with the GIL released.

use numpy::{Element, PyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::arrays::{
    check_len, check_out, float_of, read, read_opt, slice, slice_mut, slice_opt, write, Float,
};
use super::errors::guard;
use crate::error::CoreError;
use crate::losses::sigmoid::{
    sigmoid_loss, SigmoidLossParams, SigmoidNormalization, SigmoidReal, SigmoidTarget,
};
use crate::losses::Reduction;

/// The arguments that are not arrays, as the Python call gives them.
struct Options<'a> {
    num_labels: Option<usize>,
    gamma: f64,
    alpha: Option<f64>,
    neg_weight_fg_only: bool,
    ignore_index: i64,
    reduction: &'a str,
    normalization: &'a str,
    avg_factor: Option<f64>,
}

fn normalization(s: &str) -> Result<SigmoidNormalization, CoreError> {
    match s {
        "elements" => Ok(SigmoidNormalization::Elements),
        "rows" => Ok(SigmoidNormalization::Rows),
        _ => Err(CoreError::invalid(format!(
            "normalization should be 'elements' or 'rows', but got normalization='{s}'"
        ))),
    }
}

#[allow(clippy::too_many_arguments)] // the arrays of one call, each typed here
fn run<T: SigmoidReal + Element>(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    stats: Option<&Bound<'_, PyAny>>,
    per_row_or_class: [Option<&Bound<'_, PyAny>>; 4],
    opts: &Options<'_>,
) -> PyResult<()> {
    let x = read::<T>("input", input)?;
    let shape = x.shape().to_vec();
    let c = shape.last().copied().unwrap_or(0);
    if shape.is_empty() || c == 0 {
        return Err(CoreError::shape(format!(
            "input should have at least one class column, but got input of shape {shape:?}"
        ))
        .into());
    }
    let rows = x.len() / c;
    let labels = target.downcast::<PyArrayDyn<i64>>().is_ok();
    let (label_view, dense_view) = if labels {
        let t = read::<i64>("target", target)?;
        if shape.len() != 2 || t.shape() != [shape[0]] {
            return Err(CoreError::shape(format!(
                "input should have shape (N, C) and target shape (N,) for integer labels, but got input of \
                 shape {shape:?} and target of shape {:?}",
                t.shape()
            ))
            .into());
        }
        (Some(t), None)
    } else {
        let t = read::<T>("target", target)?;
        if t.shape() != shape.as_slice() {
            return Err(CoreError::shape(format!(
                "target should have the shape of input {shape:?} when it holds float targets, but got \
                 target of shape {:?}",
                t.shape()
            ))
            .into());
        }
        (None, Some(t))
    };
    let num_labels = opts.num_labels.unwrap_or(c + 1);
    let [weight, label_weight, pos_weight, neg_weight] = per_row_or_class;
    let weight = read_opt::<T>("weight", weight)?;
    let label_weight = read_opt::<T>("label_weight", label_weight)?;
    let pos_weight = read_opt::<T>("pos_weight", pos_weight)?;
    let neg_weight = read_opt::<T>("neg_weight", neg_weight)?;
    check_len("weight", &weight, rows, "sample")?;
    check_len("pos_weight", &pos_weight, c, "class")?;
    check_len("neg_weight", &neg_weight, c, "class")?;
    if labels {
        check_len("label_weight", &label_weight, num_labels, "label")?;
    }
    let params = SigmoidLossParams::<T> {
        gamma: T::from_f64(opts.gamma),
        alpha: opts.alpha.map(T::from_f64),
        weight: slice_opt(&weight),
        label_weight: slice_opt(&label_weight),
        pos_weight: slice_opt(&pos_weight),
        neg_weight: slice_opt(&neg_weight),
        neg_weight_fg_only: opts.neg_weight_fg_only,
        reduction: opts.reduction.parse()?,
        normalization: normalization(opts.normalization)?,
        avg_factor: opts.avg_factor,
    };
    let target = match (&label_view, &dense_view) {
        (Some(t), _) => SigmoidTarget::Labels {
            labels: slice(t),
            num_labels,
            ignore_index: opts.ignore_index,
        },
        (_, Some(t)) => SigmoidTarget::Dense(slice(t)),
        _ => unreachable!("one of the two views"),
    };
    let mut l = write::<T>("loss", loss)?;
    let mut g = write::<T>("grad", grad)?;
    let loss_len = if params.reduction == Reduction::None {
        x.len()
    } else {
        1
    };
    check_out("loss", &l, loss_len)?;
    check_out("grad", &g, x.len())?;
    let mut st = stats.map(|s| write::<T>("stats", s)).transpose()?;
    if let Some(s) = &st {
        check_out("stats", s, 2 * c)?;
    }
    let xs = slice(&x);
    let (ls, gs) = (slice_mut(&mut l), slice_mut(&mut g));
    let ss = st.as_mut().map(slice_mut);
    py.allow_threads(|| sigmoid_loss(xs, target, c, &params, ls, gs, ss))?;
    Ok(())
}

/// `sigmoid_loss(input, target, loss, grad, stats=None, *, ...)`: the sigmoid-family loss of
/// `input` (`(..., C)`) against int64 labels `(N,)` or a float target of input's shape, into
/// `loss` (one element, or one per element of input for `reduction="none"`), its gradient into
/// `grad`, and, when `stats` (length 2·C) is given, the per-class gradient statistics.
#[pyfunction(name = "sigmoid_loss")]
#[pyo3(signature = (input, target, loss, grad, stats=None, *, num_labels=None, gamma=0.0,
    alpha=None, weight=None, label_weight=None, pos_weight=None, neg_weight=None,
    neg_weight_fg_only=false, ignore_index=-100, reduction="mean", normalization="elements",
    avg_factor=None))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
fn sigmoid_loss_py(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    stats: Option<&Bound<'_, PyAny>>,
    num_labels: Option<usize>,
    gamma: f64,
    alpha: Option<f64>,
    weight: Option<&Bound<'_, PyAny>>,
    label_weight: Option<&Bound<'_, PyAny>>,
    pos_weight: Option<&Bound<'_, PyAny>>,
    neg_weight: Option<&Bound<'_, PyAny>>,
    neg_weight_fg_only: bool,
    ignore_index: i64,
    reduction: &str,
    normalization: &str,
    avg_factor: Option<f64>,
) -> PyResult<()> {
    guard(|| {
        let arrays = [weight, label_weight, pos_weight, neg_weight];
        let opts = Options {
            num_labels,
            gamma,
            alpha,
            neg_weight_fg_only,
            ignore_index,
            reduction,
            normalization,
            avg_factor,
        };
        match float_of(input)? {
            Float::F32 => run::<f32>(py, input, target, loss, grad, stats, arrays, &opts),
            Float::F64 => run::<f64>(py, input, target, loss, grad, stats, arrays, &opts),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sigmoid_loss_py, m)?)
}
