//! Binding of `longtail::losses::sigmoid_tch`.

use longtail::error::{CoreError, Result};
use longtail::losses::sigmoid::SigmoidNormalization;
use longtail::losses::sigmoid_tch::{sigmoid_loss_tch, SigmoidLossTensors, SigmoidTargetTensor};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::Tensor;

use crate::tensors::{float_input, guard, labels, like};

/// Sigmoid-family loss: `(loss, grad, stats)`, `stats` the `(2, C)` per-class gradient
/// statistics when `collect_stats` (else an empty tensor). Arguments are validated by `longtail`.
#[pyfunction(name = "sigmoid_loss")]
#[pyo3(signature = (input, target, *, num_labels=None, gamma=0.0, alpha=None, weight=None,
    label_weight=None, pos_weight=None, neg_weight=None, neg_weight_fg_only=false,
    ignore_index=-100, reduction="mean", normalization="elements", avg_factor=None,
    collect_stats=false))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
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
) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
    let (loss, grad, stats) = guard(py, || -> Result<(Tensor, Tensor, Tensor)> {
        float_input(&input)?;
        let shape = input.size();
        let target = if target.is_floating_point() {
            SigmoidTargetTensor::Dense(like(Some(target), &input)?.expect("given"))
        } else {
            SigmoidTargetTensor::Labels {
                labels: labels(target.0)?,
                num_labels: num_labels.unwrap_or(shape.get(1).copied().unwrap_or(0) + 1),
                ignore_index,
            }
        };
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
            weight: like(weight, &input)?,
            label_weight: like(label_weight, &input)?,
            pos_weight: like(pos_weight, &input)?,
            neg_weight: like(neg_weight, &input)?,
            neg_weight_fg_only,
            reduction: reduction.parse()?,
            normalization,
            avg_factor,
        };
        let (loss, grad, stats) = sigmoid_loss_tch(&input, &target, &tensors, collect_stats)?;
        let stats = match stats {
            Some(s) => s,
            None => Tensor::f_zeros([0], (input.kind(), input.device()))?,
        };
        Ok((loss, grad, stats))
    })?;
    Ok((PyTensor(loss), PyTensor(grad), PyTensor(stats)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sigmoid_loss_py, m)?)
}
