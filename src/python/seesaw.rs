//! Binding of `crate::losses::seesaw`: the fused Seesaw kernel (and softmax EQL through
//! `factors`) on NumPy views of the tensors' memory, with the GIL released.

use numpy::{Element, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::arrays::{
    check_len, check_out, float_of, read, read_opt, slice, slice_mut, slice_opt, write, Float,
};
use super::errors::guard;
use crate::error::CoreError;
use crate::losses::seesaw::{seesaw_loss, SeesawForm, SeesawParams};
use crate::losses::{Real, Reduction};

/// The arguments that are not arrays, as the Python call gives them.
struct Options<'a> {
    num_classes: usize,
    mode: &'a str,
    p: f64,
    q: f64,
    eps: f64,
    ignore_index: i64,
    reduction: &'a str,
    avg_factor: Option<f64>,
}

#[allow(clippy::too_many_arguments)] // the arrays of one call, each typed here
fn run<T: Real + Element>(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    arrays: [Option<&Bound<'_, PyAny>>; 3],
    opts: &Options<'_>,
) -> PyResult<()> {
    let x = read::<T>("input", input)?;
    let y = read::<i64>("target", target)?;
    let form: SeesawForm = opts.mode.parse()?;
    let c = opts.num_classes;
    if c == 0 {
        return Err(CoreError::invalid(
            "num_classes should be a positive integer, but got num_classes=0",
        )
        .into());
    }
    let k = form.columns(c);
    let shape = x.shape();
    if shape.len() != 2 || shape[1] != k || y.shape() != [shape[0]] {
        return Err(CoreError::shape(format!(
            "input should have shape (N, {k}) and target shape (N,) for num_classes={c} in the \
             {} mode, but got input of shape {shape:?} and target of shape {:?}",
            opts.mode,
            y.shape()
        ))
        .into());
    }
    let n = shape[0];
    let [counts, factors, weight] = arrays;
    let counts = read_opt::<T>("counts", counts)?;
    let factors = read_opt::<T>("factors", factors)?;
    let weight = read_opt::<T>("weight", weight)?;
    check_len("counts", &counts, c, "class")?;
    check_len("weight", &weight, n, "sample")?;
    if let Some(f) = &factors {
        if f.shape() != [n, c] {
            return Err(CoreError::shape(format!(
                "factors should have shape ({n}, {c}), but got factors of shape {:?}",
                f.shape()
            ))
            .into());
        }
    }
    let params = SeesawParams::<T> {
        num_classes: c,
        form,
        counts: slice_opt(&counts),
        p: T::from_f64(opts.p),
        q: T::from_f64(opts.q),
        eps: T::from_f64(opts.eps),
        factors: slice_opt(&factors),
        weight: slice_opt(&weight),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction.parse()?,
        avg_factor: opts.avg_factor,
    };
    let mut l = write::<T>("loss", loss)?;
    let mut g = write::<T>("grad", grad)?;
    let per_row = if form == SeesawForm::Objectness { 2 } else { 1 };
    let loss_len = if params.reduction == Reduction::None {
        n * per_row
    } else {
        2
    };
    check_out("loss", &l, loss_len)?;
    check_out("grad", &g, x.len())?;
    let (xs, ys) = (slice(&x), slice(&y));
    let (ls, gs) = (slice_mut(&mut l), slice_mut(&mut g));
    py.allow_threads(|| seesaw_loss(xs, ys, &params, ls, gs))?;
    Ok(())
}

/// `seesaw_loss(input, target, loss, grad, *, num_classes, mode, ...)`: the Seesaw loss of
/// `(N, K)` logits (K by the head layout `mode`) and int64 labels `(N,)`, written into the
/// zero-filled `loss` (`[class term, objectness term]`, or per row for `reduction="none"`:
/// `(N,)`, or `(N, 2)` in the objectness mode) and the gradient of the terms' sum into `grad`.
#[pyfunction(name = "seesaw_loss")]
#[pyo3(signature = (input, target, loss, grad, *, num_classes, mode="classification",
    counts=None, p=0.8, q=2.0, eps=1e-2, factors=None, weight=None, ignore_index=-100,
    reduction="mean", avg_factor=None))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
fn seesaw_loss_py(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    loss: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    num_classes: usize,
    mode: &str,
    counts: Option<&Bound<'_, PyAny>>,
    p: f64,
    q: f64,
    eps: f64,
    factors: Option<&Bound<'_, PyAny>>,
    weight: Option<&Bound<'_, PyAny>>,
    ignore_index: i64,
    reduction: &str,
    avg_factor: Option<f64>,
) -> PyResult<()> {
    guard(|| {
        let arrays = [counts, factors, weight];
        let opts = Options {
            num_classes,
            mode,
            p,
            q,
            eps,
            ignore_index,
            reduction,
            avg_factor,
        };
        match float_of(input)? {
            Float::F32 => run::<f32>(py, input, target, loss, grad, arrays, &opts),
            Float::F64 => run::<f64>(py, input, target, loss, grad, arrays, &opts),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seesaw_loss_py, m)?)
}
