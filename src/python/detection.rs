//! Bindings of the sigmoid and detection losses: pick the CPU kernel or the libtorch path by
//! device (or `backend`), run the kernel on the tensors' own memory with the GIL released.

use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Device, Kind, Tensor};

use super::errors::to_py_err;
use super::losses::{as_mut_slice, as_slice, float_kind, per_class};
use crate::error::{CoreError, Result};
use crate::losses::group_softmax::{group_softmax_loss, GroupSoftmaxParams};
use crate::losses::group_softmax_tch::group_softmax_loss_tch;
use crate::losses::seesaw::{seesaw_loss, SeesawForm, SeesawParams};
use crate::losses::seesaw_tch::{seesaw_loss_tch, SeesawTensors};
use crate::losses::sigmoid::{
    sigmoid_loss, SigmoidLossParams, SigmoidNormalization, SigmoidReal, SigmoidTarget,
};
use crate::losses::sigmoid_tch::{sigmoid_loss_tch, SigmoidLossTensors, SigmoidTargetTensor};
use crate::losses::{Real, Reduction};

/// Whether to run the libtorch path: `"auto"` picks it for non-CPU tensors.
fn use_tch(backend: &str, input: &Tensor) -> Result<bool> {
    match backend {
        "auto" => Ok(input.device() != Device::Cpu),
        "tch" => Ok(true),
        "kernel" if input.device() == Device::Cpu => Ok(false),
        _ => Err(CoreError::invalid(format!(
            "backend should be 'auto', 'tch' or (for CPU tensors) 'kernel', but got backend='{backend}'"
        ))),
    }
}

fn check_labels_dtype(target: &Tensor) -> Result<()> {
    if matches!(
        target.kind(),
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
    ) {
        Ok(())
    } else {
        Err(CoreError::dtype(format!(
            "target should be a tensor of integer labels, but got target of dtype {:?}",
            target.kind()
        )))
    }
}

/// Checks that an optional parameter tensor has the given length.
fn check_len(name: &str, t: &Option<Tensor>, len: i64, what: &str) -> Result<()> {
    match t {
        Some(t) if t.size() != [len] => Err(CoreError::shape(format!(
            "{name} should have shape ({len},), one entry per {what}, but got {name} of shape {:?}",
            t.size()
        ))),
        _ => Ok(()),
    }
}

fn empty_loss(reduction: Reduction, shape: &[i64], like: &Tensor) -> Result<Tensor> {
    let kind = like.kind();
    Ok(if reduction == Reduction::None {
        Tensor::f_empty(shape, (kind, Device::Cpu))?
    } else {
        Tensor::f_empty([] as [i64; 0], (kind, Device::Cpu))?
    })
}

fn run_sigmoid_kernel<T: SigmoidReal + tch::kind::Element>(
    py: Python<'_>,
    input: &Tensor,
    target: &SigmoidTargetTensor,
    tensors: &SigmoidLossTensors,
    collect_stats: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let shape = input.size();
    let c = *shape.last().unwrap_or(&0) as usize;
    let grad = input.f_empty_like()?;
    let loss = empty_loss(tensors.reduction, &shape, input)?;
    let stats = Tensor::f_zeros(
        [if collect_stats { 2 * c as i64 } else { 0 }],
        (input.kind(), Device::Cpu),
    )?;
    // SAFETY: every tensor is contiguous, on the CPU, of the element type it is viewed as, and
    // alive until this function returns; `grad`, `loss` and `stats` are fresh and viewed once.
    unsafe {
        let params = SigmoidLossParams::<T> {
            gamma: T::from_f64(tensors.gamma),
            alpha: tensors.alpha.map(T::from_f64),
            weight: tensors.weight.as_ref().map(|t| as_slice::<T>(t)),
            label_weight: tensors.label_weight.as_ref().map(|t| as_slice::<T>(t)),
            pos_weight: tensors.pos_weight.as_ref().map(|t| as_slice::<T>(t)),
            neg_weight: tensors.neg_weight.as_ref().map(|t| as_slice::<T>(t)),
            neg_weight_fg_only: tensors.neg_weight_fg_only,
            reduction: tensors.reduction,
            normalization: tensors.normalization,
            avg_factor: tensors.avg_factor,
        };
        let t = match target {
            SigmoidTargetTensor::Labels {
                labels,
                num_labels,
                ignore_index,
            } => SigmoidTarget::Labels {
                labels: as_slice::<i64>(labels),
                num_labels: *num_labels as usize,
                ignore_index: *ignore_index,
            },
            SigmoidTargetTensor::Dense(t) => SigmoidTarget::Dense(as_slice::<T>(t)),
        };
        let x = as_slice::<T>(input);
        let (l, g) = (as_mut_slice::<T>(&loss), as_mut_slice::<T>(&grad));
        let st = if collect_stats {
            Some(as_mut_slice::<T>(&stats))
        } else {
            None
        };
        py.allow_threads(|| sigmoid_loss(x, t, c, &params, l, g, st))?;
    }
    let stats = if collect_stats {
        stats.f_reshape([2, c as i64])?
    } else {
        stats
    };
    Ok((loss, grad, stats))
}

/// Sigmoid-family loss: returns `(loss, grad, stats)`, where `grad` is the gradient of `loss`
/// (of each element of it for `reduction="none"`) with respect to `input`, and `stats` the
/// `(2, C)` per-class gradient statistics when `collect_stats` (else an empty tensor).
#[pyfunction(name = "sigmoid_loss")]
#[pyo3(signature = (input, target, *, num_labels=None, gamma=0.0, alpha=None, weight=None,
    label_weight=None, pos_weight=None, neg_weight=None, neg_weight_fg_only=false,
    ignore_index=-100, reduction="mean", normalization="elements", avg_factor=None,
    collect_stats=false, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn sigmoid_loss_py(
    py: Python<'_>,
    input: PyTensor,
    target: PyTensor,
    num_labels: Option<i64>,
    gamma: f64,
    alpha: Option<f64>,
    weight: Option<PyTensor>,
    label_weight: Option<PyTensor>,
    pos_weight: Option<PyTensor>,
    neg_weight: Option<PyTensor>,
    neg_weight_fg_only: bool,
    ignore_index: i64,
    reduction: &str,
    normalization: &str,
    avg_factor: Option<f64>,
    collect_stats: bool,
    backend: &str,
) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
    let run = || -> Result<(Tensor, Tensor, Tensor)> {
        let kind = float_kind(&input, "input")?;
        let shape = input.size();
        let dense = target.is_floating_point();
        let target = if dense {
            if target.size() != shape {
                return Err(CoreError::shape(format!(
                    "target should have the shape of input {shape:?} when it holds float targets, but got \
                     target of shape {:?}",
                    target.size()
                )));
            }
            if shape.is_empty() {
                return Err(CoreError::shape(
                    "input should have at least one dimension, but got a scalar",
                ));
            }
            SigmoidTargetTensor::Dense(target.f_to_kind(kind)?.f_contiguous()?)
        } else {
            check_labels_dtype(&target)?;
            if shape.len() != 2 || target.size() != [shape[0]] {
                return Err(CoreError::shape(format!(
                    "input should have shape (N, C) and target shape (N,) for integer labels, but got input of \
                     shape {shape:?} and target of shape {:?}",
                    target.size()
                )));
            }
            let num_labels = num_labels.unwrap_or(shape[1] + 1);
            SigmoidTargetTensor::Labels {
                labels: target.f_to_kind(Kind::Int64)?.f_contiguous()?,
                num_labels,
                ignore_index,
            }
        };
        let c = *shape.last().unwrap_or(&0);
        let rows = if c == 0 { 0 } else { input.numel() as i64 / c };
        let normalization = match normalization {
            "elements" => SigmoidNormalization::Elements,
            "rows" => SigmoidNormalization::Rows,
            _ => {
                return Err(CoreError::invalid(format!(
                    "normalization should be 'elements' or 'rows', but got normalization='{normalization}'"
                )))
            }
        };
        let tensors = SigmoidLossTensors {
            gamma,
            alpha,
            weight: per_class(weight, &input)?,
            label_weight: per_class(label_weight, &input)?,
            pos_weight: per_class(pos_weight, &input)?,
            neg_weight: per_class(neg_weight, &input)?,
            neg_weight_fg_only,
            reduction: reduction.parse()?,
            normalization,
            avg_factor,
        };
        check_len("weight", &tensors.weight, rows, "sample")?;
        check_len("pos_weight", &tensors.pos_weight, c, "class")?;
        check_len("neg_weight", &tensors.neg_weight, c, "class")?;
        if let SigmoidTargetTensor::Labels { num_labels, .. } = &target {
            check_len("label_weight", &tensors.label_weight, *num_labels, "label")?;
        }
        if use_tch(backend, &input)? {
            let (loss, grad, stats) = sigmoid_loss_tch(&input, &target, &tensors, collect_stats)?;
            let stats = match stats {
                Some(s) => s,
                None => Tensor::f_zeros([0], (kind, input.device()))?,
            };
            return Ok((loss, grad, stats));
        }
        let input = input.f_contiguous()?;
        match kind {
            Kind::Float => run_sigmoid_kernel::<f32>(py, &input, &target, &tensors, collect_stats),
            _ => run_sigmoid_kernel::<f64>(py, &input, &target, &tensors, collect_stats),
        }
    };
    let (loss, grad, stats) = run().map_err(to_py_err)?;
    Ok((PyTensor(loss), PyTensor(grad), PyTensor(stats)))
}

fn run_seesaw_kernel<T: Real + tch::kind::Element>(
    py: Python<'_>,
    input: &Tensor,
    target: &Tensor,
    tensors: &SeesawTensors,
) -> Result<(Tensor, Tensor)> {
    let n = target.size()[0];
    let per_row = if tensors.form == SeesawForm::Objectness {
        2
    } else {
        1
    };
    let grad = input.f_empty_like()?;
    let loss_len = if tensors.reduction == Reduction::None {
        n * per_row
    } else {
        2
    };
    let loss = Tensor::f_zeros([loss_len], (input.kind(), Device::Cpu))?;
    // SAFETY: every tensor is contiguous, on the CPU, of the element type it is viewed as, and
    // alive until this function returns; `grad` and `loss` are fresh and viewed once.
    unsafe {
        let params = SeesawParams::<T> {
            num_classes: tensors.num_classes as usize,
            form: tensors.form,
            counts: tensors.counts.as_ref().map(|t| as_slice::<T>(t)),
            p: T::from_f64(tensors.p),
            q: T::from_f64(tensors.q),
            eps: T::from_f64(tensors.eps),
            factors: tensors.factors.as_ref().map(|t| as_slice::<T>(t)),
            weight: tensors.weight.as_ref().map(|t| as_slice::<T>(t)),
            ignore_index: tensors.ignore_index,
            reduction: tensors.reduction,
            avg_factor: tensors.avg_factor,
        };
        let (x, y) = (as_slice::<T>(input), as_slice::<i64>(target));
        let (l, g) = (as_mut_slice::<T>(&loss), as_mut_slice::<T>(&grad));
        py.allow_threads(|| seesaw_loss(x, y, &params, l, g))?;
    }
    Ok((loss, grad))
}

/// Seesaw loss (and softmax EQL through `factors`): returns `(loss_classes, loss_objectness,
/// grad)`; `loss_objectness` is 0 (or zeros) outside the objectness form, and `grad` is the
/// gradient of their sum.
#[pyfunction(name = "seesaw_loss")]
#[pyo3(signature = (input, target, *, num_classes, form="classification", counts=None, p=0.8,
    q=2.0, eps=1e-2, factors=None, weight=None, ignore_index=-100, reduction="mean",
    avg_factor=None, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn seesaw_loss_py(
    py: Python<'_>,
    input: PyTensor,
    target: PyTensor,
    num_classes: i64,
    form: &str,
    counts: Option<PyTensor>,
    p: f64,
    q: f64,
    eps: f64,
    factors: Option<PyTensor>,
    weight: Option<PyTensor>,
    ignore_index: i64,
    reduction: &str,
    avg_factor: Option<f64>,
    backend: &str,
) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
    let run = || -> Result<(Tensor, Tensor, Tensor)> {
        let kind = float_kind(&input, "input")?;
        check_labels_dtype(&target)?;
        let form = match form {
            "classification" => SeesawForm::Classification,
            "background" => SeesawForm::Background,
            "objectness" => SeesawForm::Objectness,
            _ => {
                return Err(CoreError::invalid(format!(
                    "form should be one of 'classification', 'background', 'objectness', but got form='{form}'"
                )))
            }
        };
        if num_classes < 1 {
            return Err(CoreError::invalid(format!(
                "num_classes should be a positive integer, but got num_classes={num_classes}"
            )));
        }
        let shape = input.size();
        let k = form.columns(num_classes as usize) as i64;
        if shape.len() != 2 || shape[1] != k || target.size() != [shape[0]] {
            return Err(CoreError::shape(format!(
                "input should have shape (N, {k}) and target shape (N,) for num_classes={num_classes} in the \
                 {form:?} form, but got input of shape {shape:?} and target of shape {:?}",
                target.size()
            )));
        }
        let tensors = SeesawTensors {
            num_classes,
            form,
            counts: per_class(counts, &input)?,
            p,
            q,
            eps,
            factors: per_class(factors, &input)?,
            weight: per_class(weight, &input)?,
            ignore_index,
            reduction: reduction.parse()?,
            avg_factor,
        };
        check_len("counts", &tensors.counts, num_classes, "class")?;
        check_len("weight", &tensors.weight, shape[0], "sample")?;
        if let Some(f) = &tensors.factors {
            if f.size() != [shape[0], num_classes] {
                return Err(CoreError::shape(format!(
                    "factors should have shape ({}, {num_classes}), but got factors of shape {:?}",
                    shape[0],
                    f.size()
                )));
            }
        }
        let target = target.f_to_kind(Kind::Int64)?.f_contiguous()?;
        let (loss, grad) = if use_tch(backend, &input)? {
            seesaw_loss_tch(&input, &target, &tensors)?
        } else {
            let input = input.f_contiguous()?;
            match kind {
                Kind::Float => run_seesaw_kernel::<f32>(py, &input, &target, &tensors)?,
                _ => run_seesaw_kernel::<f64>(py, &input, &target, &tensors)?,
            }
        };
        // Two separate outputs that alias neither each other nor the inputs (custom-op rule).
        let own = |t: Tensor| -> Result<Tensor> {
            let mut out = t.f_empty_like()?;
            out.f_copy_(&t)?;
            Ok(out)
        };
        let (cls, obj) = match (tensors.reduction, form) {
            (Reduction::None, SeesawForm::Objectness) => {
                let l = loss.f_reshape([-1, 2])?;
                (own(l.f_select(1, 0)?)?, own(l.f_select(1, 1)?)?)
            }
            (Reduction::None, _) => (loss.shallow_clone(), loss.f_zeros_like()?),
            _ => (own(loss.f_select(0, 0)?)?, own(loss.f_select(0, 1)?)?),
        };
        Ok((cls, obj, grad))
    };
    let (cls, obj, grad) = run().map_err(to_py_err)?;
    Ok((PyTensor(cls), PyTensor(obj), PyTensor(grad)))
}

/// Group softmax (BAGS): returns `(loss, grad)` for `(N, K)` logits cut into consecutive groups
/// at `offsets`, with `(N, G)` target positions and weights.
#[pyfunction(name = "group_softmax_loss")]
#[pyo3(signature = (input, offsets, targets, weights, *, reduction="mean", backend="auto"))]
fn group_softmax_loss_py(
    py: Python<'_>,
    input: PyTensor,
    offsets: Vec<i64>,
    targets: PyTensor,
    weights: PyTensor,
    reduction: &str,
    backend: &str,
) -> PyResult<(PyTensor, PyTensor)> {
    let run = || -> Result<(Tensor, Tensor)> {
        let kind = float_kind(&input, "input")?;
        check_labels_dtype(&targets)?;
        let reduction: Reduction = reduction.parse()?;
        let shape = input.size();
        let g = offsets.len() as i64 - 1;
        let valid_offsets = g >= 1 && offsets[0] == 0 && offsets.windows(2).all(|w| w[1] > w[0]);
        if !valid_offsets || shape.len() != 2 || shape[1] != offsets[offsets.len() - 1] {
            return Err(CoreError::shape(format!(
                "input should have shape (N, {}) for offsets={offsets:?}, but got input of shape {shape:?}",
                offsets.last().unwrap_or(&0)
            )));
        }
        for (name, t) in [("targets", &targets), ("weights", &weights)] {
            if t.size() != [shape[0], g] {
                return Err(CoreError::shape(format!(
                    "{name} should have shape ({}, {g}), but got {name} of shape {:?}",
                    shape[0],
                    t.size()
                )));
            }
        }
        let targets = targets.f_to_kind(Kind::Int64)?.f_contiguous()?;
        let weights = weights
            .f_to_device(input.device())?
            .f_to_kind(kind)?
            .f_contiguous()?;
        if use_tch(backend, &input)? {
            return group_softmax_loss_tch(&input, &offsets, &targets, &weights, reduction);
        }
        let input = input.f_contiguous()?;
        let offs: Vec<usize> = offsets.iter().map(|&o| o as usize).collect();
        let grad = input.f_empty_like()?;
        let loss = empty_loss(reduction, &[shape[0]], &input)?;
        macro_rules! run_typed {
            ($t:ty) => {
                // SAFETY: every tensor is contiguous, on the CPU, of the element type it is
                // viewed as, and alive until the end of this block; `grad` and `loss` are fresh.
                unsafe {
                    let p = GroupSoftmaxParams::<$t> {
                        offsets: &offs,
                        targets: as_slice::<i64>(&targets),
                        weights: as_slice::<$t>(&weights),
                        reduction,
                    };
                    let x = as_slice::<$t>(&input);
                    let (l, gr) = (as_mut_slice::<$t>(&loss), as_mut_slice::<$t>(&grad));
                    py.allow_threads(|| group_softmax_loss(x, &p, l, gr))?;
                }
            };
        }
        match kind {
            Kind::Float => run_typed!(f32),
            _ => run_typed!(f64),
        }
        Ok((loss, grad))
    };
    let (loss, grad) = run().map_err(to_py_err)?;
    Ok((PyTensor(loss), PyTensor(grad)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_softmax_loss_py, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_loss_py, m)?)?;
    m.add_function(wrap_pyfunction!(seesaw_loss_py, m)?)?;
    Ok(())
}
