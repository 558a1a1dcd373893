//! The group-softmax kernel of [`super::group_softmax`] written as libtorch ops (CUDA tensors).

use tch::{Kind, Tensor};

use super::{on_host, Reduction};
use crate::error::{CoreError, Result};

/// Returns `(loss, grad)` as the CPU kernel does; `targets` and `weights` are `(N, G)`.
pub fn group_softmax_loss_tch(
    input: &Tensor,
    offsets: &[i64],
    targets: &Tensor,
    weights: &Tensor,
    reduction: Reduction,
) -> Result<(Tensor, Tensor)> {
    let kind = input.kind();
    let g_count = offsets.len() - 1;
    let nan_rows = input.f_isnan()?.f_any_dim(1, false)?;
    let mut row = Tensor::f_zeros([input.size()[0]], (kind, input.device()))?;
    let mut grads = Vec::with_capacity(g_count);
    for g in 0..g_count {
        let (a, b) = (offsets[g], offsets[g + 1]);
        let t = targets.f_select(1, g as i64)?;
        let size = b - a;
        let bad = t.f_lt(0)?.f_logical_or(&t.f_ge(size)?)?;
        if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
            let i = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
            return Err(CoreError::out_of_range(format!(
                "targets should lie in [0, {size}) for group {g}, but got {} at row {i}",
                t.f_int64_value(&[i])?
            )));
        }
        let w = weights.f_select(1, g as i64)?;
        let keep = w.f_ne(0.0)?;
        let logp = input.f_narrow(1, a, size)?.f_log_softmax(1, kind)?;
        let col = t.f_unsqueeze(1)?;
        let ce = logp.f_gather(1, &col, false)?.f_squeeze_dim(1)?.f_neg()?;
        row = row.f_add(&ce.f_mul(&w)?.f_where_scalarother(&keep, 0.0)?)?;
        let onehot = logp.f_zeros_like()?.f_scatter_value(1, &col, 1.0)?;
        let gg = logp.f_exp()?.f_sub(&onehot)?.f_mul(&w.f_unsqueeze(1)?)?;
        grads.push(gg.f_where_scalarother(&keep.f_unsqueeze(1)?, 0.0)?);
    }
    if on_host(input)
        && nan_rows
            .f_logical_and(&weights.f_ne(0.0)?.f_any_dim(1, false)?)?
            .f_any()?
            .f_int64_value(&[])?
            != 0
    {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    let grad = Tensor::f_cat(&grads, 1)?.f_contiguous()?;
    let loss = match reduction {
        Reduction::None => row,
        _ => row.f_sum(Kind::Double)?.f_to_kind(kind)?,
    };
    Ok((loss, grad))
}
