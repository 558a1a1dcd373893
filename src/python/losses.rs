//! Loss bindings: pick the CPU kernel or the libtorch path by device, run the kernel on the
//! tensors' own memory with the GIL released.

use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::{Device, Kind, Tensor};

use super::errors::guard;
use crate::error::{CoreError, Result};
use crate::losses::softmax::{softmax_loss, SoftmaxLossParams};
use crate::losses::softmax_tch::{softmax_loss_tch, SoftmaxLossTensors};
use crate::losses::{Layout, Real, Reduction};

/// A read-only view of a contiguous CPU tensor's memory.
///
/// # Safety
/// `t` must be a contiguous CPU tensor of element type `T` that outlives the slice.
pub(crate) unsafe fn as_slice<T>(t: &Tensor) -> &[T] {
    let n = t.numel();
    if n == 0 {
        return &[];
    }
    std::slice::from_raw_parts(t.data_ptr() as *const T, n)
}

/// # Safety
/// As [`as_slice`], and no other view of `t` may be alive.
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn as_mut_slice<T>(t: &Tensor) -> &mut [T] {
    let n = t.numel();
    if n == 0 {
        return &mut [];
    }
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, n)
}

/// Checks the logits/target pair and returns the `(N, C, D)` layout.
pub(crate) fn logits_layout(input: &Tensor, target: &Tensor) -> Result<Layout> {
    let shape = input.size();
    if shape.len() < 2 {
        return Err(CoreError::shape(format!(
            "input should have shape (N, C) or (N, C, d1, ...), but got input of shape {shape:?}"
        )));
    }
    if shape[1] == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
    }
    let mut want: Vec<i64> = vec![shape[0]];
    want.extend_from_slice(&shape[2..]);
    if target.size() != want {
        return Err(CoreError::shape(format!(
            "target should have shape {want:?} for input of shape {shape:?}, but got target of shape {:?}",
            target.size()
        )));
    }
    Ok(Layout {
        n: shape[0] as usize,
        c: shape[1] as usize,
        d: shape[2..].iter().product::<i64>() as usize,
    })
}

/// A per-class parameter as a contiguous tensor of the logits' dtype and device.
pub(crate) fn per_class(t: Option<PyTensor>, like: &Tensor) -> Result<Option<Tensor>> {
    t.map(|t| {
        let t = t.0;
        if t.kind() == like.kind() && t.device() == like.device() && t.is_contiguous() {
            return Ok(t); // the common case: no conversion, no libtorch call
        }
        Ok(t.f_to_device(like.device())?
            .f_to_kind(like.kind())?
            .f_contiguous()?)
    })
    .transpose()
}

pub(crate) fn float_kind(t: &Tensor, name: &str) -> Result<Kind> {
    match t.kind() {
        k @ (Kind::Float | Kind::Double) => Ok(k),
        k => Err(CoreError::dtype(format!(
            "{name} should be a float32 or float64 tensor, but got {name} of dtype {k:?}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_kernel<T: Real + tch::kind::Element>(
    py: Python<'_>,
    input: &Tensor,
    target: &Tensor,
    layout: Layout,
    tensors: &SoftmaxLossTensors,
) -> Result<(Tensor, Tensor)> {
    let grad = input.f_empty_like()?;
    let loss = if tensors.reduction == Reduction::None {
        Tensor::f_empty(target.size().as_slice(), (input.kind(), Device::Cpu))?
    } else {
        Tensor::f_empty([] as [i64; 0], (input.kind(), Device::Cpu))?
    };
    // SAFETY: every tensor is contiguous, on the CPU, of the element type it is viewed as, and
    // alive until this function returns; `grad` and `loss` are fresh and viewed once.
    unsafe {
        let params = SoftmaxLossParams::<T> {
            offsets: tensors.offsets.as_ref().map(|t| as_slice::<T>(t)),
            margins: tensors.margins.as_ref().map(|t| as_slice::<T>(t)),
            scale: T::from_f64(tensors.scale),
            weight: tensors.weight.as_ref().map(|t| as_slice::<T>(t)),
            alpha: tensors.alpha.as_ref().map(|t| as_slice::<T>(t)),
            gamma: T::from_f64(tensors.gamma),
            label_smoothing: T::from_f64(tensors.label_smoothing),
            ignore_index: tensors.ignore_index,
            reduction: tensors.reduction,
            normalization: tensors.normalization,
            avg_factor: tensors.avg_factor,
        };
        let (x, y) = (as_slice::<T>(input), as_slice::<i64>(target));
        let (l, g) = (as_mut_slice::<T>(&loss), as_mut_slice::<T>(&grad));
        py.allow_threads(|| softmax_loss(x, y, layout, &params, l, g))?;
    }
    Ok((loss, grad))
}

/// Softmax-family loss forward: returns `(loss, grad)`, where `grad` is the gradient of `loss`
/// (of each element of it for `reduction="none"`) with respect to `input`.
#[pyfunction(name = "softmax_loss")]
#[pyo3(signature = (input, target, *, offsets=None, margins=None, scale=1.0, weight=None, alpha=None,
    gamma=0.0, label_smoothing=0.0, ignore_index=-100, reduction="mean", normalization="weight",
    avg_factor=None, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn softmax_loss_py(
    py: Python<'_>,
    input: PyTensor,
    target: PyTensor,
    offsets: Option<PyTensor>,
    margins: Option<PyTensor>,
    scale: f64,
    weight: Option<PyTensor>,
    alpha: Option<PyTensor>,
    gamma: f64,
    label_smoothing: f64,
    ignore_index: i64,
    reduction: &str,
    normalization: &str,
    avg_factor: Option<f64>,
    backend: &str,
) -> PyResult<(PyTensor, PyTensor)> {
    let run = || -> Result<(Tensor, Tensor)> {
        let kind = float_kind(&input, "input")?;
        if !matches!(
            target.kind(),
            Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
        ) {
            return Err(CoreError::dtype(format!(
                "target should be a tensor of integer class indices, but got target of dtype {:?}",
                target.kind()
            )));
        }
        let layout = logits_layout(&input, &target)?;
        let tensors = SoftmaxLossTensors {
            offsets: per_class(offsets, &input)?,
            margins: per_class(margins, &input)?,
            scale,
            weight: per_class(weight, &input)?,
            alpha: per_class(alpha, &input)?,
            gamma,
            label_smoothing,
            ignore_index,
            reduction: reduction.parse()?,
            normalization: normalization.parse()?,
            avg_factor,
        };
        for (name, t) in [
            ("offsets", &tensors.offsets),
            ("margins", &tensors.margins),
            ("weight", &tensors.weight),
            ("alpha", &tensors.alpha),
        ] {
            if let Some(t) = t {
                if t.size() != [layout.c as i64] {
                    return Err(CoreError::shape(format!(
                        "{name} should have shape ({},), one entry per class, but got {name} of shape {:?}",
                        layout.c,
                        t.size()
                    )));
                }
            }
        }
        let use_tch = match backend {
            "auto" => input.device() != Device::Cpu,
            "tch" => true,
            "kernel" if input.device() == Device::Cpu => false,
            _ => {
                return Err(CoreError::invalid(format!(
                    "backend should be 'auto', 'tch' or (for CPU tensors) 'kernel', but got backend='{backend}'"
                )))
            }
        };
        let target = if target.kind() == Kind::Int64 {
            target.0
        } else {
            target.f_to_kind(Kind::Int64)?
        };
        if use_tch {
            return softmax_loss_tch(&input, &target, &tensors);
        }
        let input = if input.is_contiguous() {
            input.0
        } else {
            input.f_contiguous()?
        };
        let target = if target.is_contiguous() {
            target
        } else {
            target.f_contiguous()?
        };
        match kind {
            Kind::Float => run_kernel::<f32>(py, &input, &target, layout, &tensors),
            _ => run_kernel::<f64>(py, &input, &target, layout, &tensors),
        }
    };
    let (loss, grad) = guard(run)?;
    Ok((PyTensor(loss), PyTensor(grad)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax_loss_py, m)?)?;
    Ok(())
}
