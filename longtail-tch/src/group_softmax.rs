//! Binding of `longtail::losses::group_softmax_tch`.

use longtail::error::Result;
use longtail::losses::group_softmax_tch::group_softmax_loss_tch;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use tch::Tensor;

use crate::tensors::{float_input, guard, labels, like};

/// Group softmax (BAGS): `(loss, grad)` for `(N, K)` logits cut into consecutive column groups
/// at `offsets`, with `(N, G)` target positions and weights. Arguments are validated by
/// `longtail`.
#[pyfunction(name = "group_softmax_loss")]
#[pyo3(signature = (input, targets, weights, offsets, *, reduction="mean"))]
fn group_softmax_loss_py(
    py: Python<'_>,
    input: PyTensor,
    targets: PyTensor,
    weights: PyTensor,
    offsets: Vec<i64>,
    reduction: &str,
) -> PyResult<(PyTensor, PyTensor)> {
    let (loss, grad) = guard(py, || -> Result<(Tensor, Tensor)> {
        float_input(&input)?;
        let weights = like(Some(weights), &input)?.expect("given");
        let targets = labels(targets.0)?;
        group_softmax_loss_tch(&input, &offsets, &targets, &weights, reduction.parse()?)
    })?;
    Ok((PyTensor(loss), PyTensor(grad)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_softmax_loss_py, m)?)
}
