//! Binding of `longtail::losses::seesaw_tch`.

use longtail::error::{CoreError, Result};
use longtail::losses::seesaw::SeesawForm;
use longtail::losses::seesaw_tch::{seesaw_loss_tch, SeesawTensors};
use longtail::losses::Reduction;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::Tensor;

use crate::tensors::{float_input, guard, labels, like};

/// Seesaw loss (and softmax EQL through `factors`): `(loss_classes, loss_objectness, grad)`,
/// `grad` the gradient of their sum. Arguments are validated by `longtail`.
#[pyfunction(name = "seesaw_loss")]
#[pyo3(signature = (input, target, *, num_classes, mode="classification", counts=None, p=0.8,
    q=2.0, eps=1e-2, factors=None, weight=None, ignore_index=-100, reduction="mean",
    avg_factor=None))]
#[allow(clippy::too_many_arguments)] // the Python keyword arguments, one each
fn seesaw_loss_py(
    py: Python<'_>,
    input: PyTensor,
    target: PyTensor,
    num_classes: i64,
    mode: &str,
    counts: Option<PyTensor>,
    p: f64,
    q: f64,
    eps: f64,
    factors: Option<PyTensor>,
    weight: Option<PyTensor>,
    ignore_index: i64,
    reduction: &str,
    avg_factor: Option<f64>,
) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
    let (cls, obj, grad) = guard(py, || -> Result<(Tensor, Tensor, Tensor)> {
        float_input(&input)?;
        let form: SeesawForm = mode.parse()?;
        let tensors = SeesawTensors {
            num_classes,
            form,
            counts: like(counts, &input)?,
            p,
            q,
            eps,
            factors: like(factors, &input)?,
            weight: like(weight, &input)?,
            ignore_index,
            reduction: reduction.parse()?,
            avg_factor,
        };
        if num_classes < 1 {
            return Err(CoreError::invalid(format!(
                "num_classes should be a positive integer, but got num_classes={num_classes}"
            )));
        }
        let (loss, grad) = seesaw_loss_tch(&input, &labels(target.0)?, &tensors)?;
        // Two outputs that alias neither each other nor the inputs (the custom-op rule).
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
    })?;
    Ok((PyTensor(cls), PyTensor(obj), PyTensor(grad)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seesaw_loss_py, m)?)
}
