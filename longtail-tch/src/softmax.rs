//! Binding of `longtail::losses::softmax_tch`.

use longtail::error::Result;
use longtail::losses::softmax_tch::{softmax_loss_tch, SoftmaxLossTensors};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::Tensor;

use crate::tensors::{float_input, guard, labels, like};

/// Softmax-family loss: `(loss, grad)`, `grad` the gradient of `loss` (of each element of it for
/// `reduction="none"`) with respect to `input`. Arguments are validated by `longtail`.
#[pyfunction(name = "softmax_loss")]
#[pyo3(signature = (input, target, *, offsets=None, margins=None, scale=1.0, weight=None, alpha=None,
    gamma=0.0, label_smoothing=0.0, ignore_index=-100, reduction="mean", normalization="weight",
    avg_factor=None))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
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
) -> PyResult<(PyTensor, PyTensor)> {
    let (loss, grad) = guard(py, || -> Result<(Tensor, Tensor)> {
        float_input(&input)?;
        let tensors = SoftmaxLossTensors {
            offsets: like(offsets, &input)?,
            margins: like(margins, &input)?,
            scale,
            weight: like(weight, &input)?,
            alpha: like(alpha, &input)?,
            gamma,
            label_smoothing,
            ignore_index,
            reduction: reduction.parse()?,
            normalization: normalization.parse()?,
            avg_factor,
        };
        softmax_loss_tch(&input, &labels(target.0)?, &tensors)
    })?;
    Ok((PyTensor(loss), PyTensor(grad)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax_loss_py, m)?)
}
