//! The softmax-family loss of [`super::softmax`] written as libtorch ops, for tensors the CPU
//! kernel cannot take (CUDA). Same formula, same gradient, same reductions.

use tch::Tensor;

use super::{on_host, Normalization, Reduction};
use crate::error::{CoreError, Result};

/// The tensor-valued parameters of the softmax-family loss (see `SoftmaxLossParams`).
pub struct SoftmaxLossTensors {
    pub offsets: Option<Tensor>,
    pub margins: Option<Tensor>,
    pub scale: f64,
    pub weight: Option<Tensor>,
    pub alpha: Option<Tensor>,
    pub gamma: f64,
    pub label_smoothing: f64,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub normalization: Normalization,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad)` as the CPU kernel does. `input` is `(N, C, d...)`, `target` `(N, d...)`.
pub fn softmax_loss_tch(
    input: &Tensor,
    target: &Tensor,
    p: &SoftmaxLossTensors,
) -> Result<(Tensor, Tensor)> {
    let shape = input.size();
    let c = shape[1];
    // Rows (N·D, C) with classes last.
    let x = input.f_movedim([1], [-1])?.f_reshape([-1, c])?;
    let kind = x.kind();
    let rows = x.size()[0];
    let t_all = target.f_reshape([-1])?;
    let valid = t_all.f_ne(p.ignore_index)?;
    let bad = t_all
        .f_lt(0)?
        .f_logical_or(&t_all.f_ge(c)?)?
        .f_logical_and(&valid)?;
    if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
        let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
        let val = t_all.f_int64_value(&[pos])?;
        return Err(CoreError::out_of_range(format!(
            "target should contain class indices in [0, {c}) or ignore_index={}, but got target={val} at position {pos}",
            p.ignore_index
        )));
    }
    let t = t_all.f_where_scalarother(&valid, 0)?;
    let t_col = t.f_unsqueeze(1)?;
    let validf = valid.f_to_kind(kind)?;
    let onehot = x.f_zeros_like()?.f_scatter_value(1, &t_col, 1.0)?;

    let mut u = x.f_mul_scalar(p.scale)?;
    if let Some(b) = &p.offsets {
        u = u.f_add(&b.f_unsqueeze(0)?)?;
    }
    if let Some(m) = &p.margins {
        let m_y = m
            .f_index_select(0, &t)?
            .f_mul_scalar(p.scale)?
            .f_unsqueeze(1)?;
        u = u.f_sub(&onehot.f_mul(&m_y)?)?;
    }
    let logp = u.f_log_softmax(1, kind)?;
    let prob = logp.f_exp()?;
    let ones = Tensor::f_ones([c], (kind, x.device()))?;
    let w = p.weight.as_ref().unwrap_or(&ones);
    let w_y = w.f_index_select(0, &t)?;
    let eps = p.label_smoothing;
    let a = w_y.f_mul_scalar(1.0 - eps)?;
    let bcoef = eps / c as f64;
    let mut l = a.f_mul(&logp.f_gather(1, &t_col, false)?.f_squeeze_dim(1)?.f_neg()?)?;
    let mut pcoef = a.shallow_clone();
    if eps > 0.0 {
        // Zero-weight classes are left out so that a -inf logit there does not give 0·inf.
        let wl = logp
            .f_mul(&w.f_unsqueeze(0)?)?
            .f_where_scalarother(&w.f_ne(0.0)?.f_unsqueeze(0)?, 0.0)?;
        l = l.f_sub(&wl.f_sum_dim_intlist(1, false, kind)?.f_mul_scalar(bcoef)?)?;
        pcoef = pcoef.f_add(&w.f_sum(kind)?.f_mul_scalar(bcoef)?)?;
    }
    let (value, dh) = if p.gamma > 0.0 {
        let tt = l.f_neg()?.f_expm1()?.f_neg()?.f_clamp_min(0.0)?;
        let tg = tt.f_pow_tensor_scalar(p.gamma)?;
        let dh = tg
            .f_div(&tt)?
            .f_mul_scalar(p.gamma)?
            .f_mul(&l.f_neg()?.f_exp()?)?
            .f_mul(&l)?
            .f_add(&tg)?;
        let dh = dh.f_where_scalarother(&tt.f_gt(0.0)?, 0.0)?;
        (tg.f_mul(&l)?, dh)
    } else {
        (l.shallow_clone(), l.f_ones_like()?)
    };
    let alpha_y = match &p.alpha {
        Some(al) => al.f_index_select(0, &t)?,
        None => Tensor::f_ones([rows], (kind, x.device()))?,
    };
    let row_loss = alpha_y.f_mul(&value)?.f_mul(&validf)?;
    // A zero divisor (all rows ignored) leaves the gradient 0 and the "mean" NaN, as in torch.
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => None,
        (Reduction::Mean, Some(f)) => Some(
            Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(x.device())?
                .f_squeeze()?,
        ),
        (Reduction::Mean, None) => Some(match p.normalization {
            Normalization::Weight => w_y.f_mul(&validf)?.f_sum(kind)?,
            Normalization::Count => validf.f_sum(kind)?,
        }),
    };
    let mut k = alpha_y.f_mul(&dh)?.f_mul(&validf)?.f_mul_scalar(p.scale)?;
    if let Some(dv) = &divisor {
        let safe = dv.f_where_scalarother(&dv.f_ne(0.0)?, 1.0)?;
        k = k.f_div(&safe)?;
    }
    let k = k.f_unsqueeze(1)?;
    let mut g = prob
        .f_mul(&pcoef.f_unsqueeze(1)?)?
        .f_sub(&onehot.f_mul(&a.f_unsqueeze(1)?)?)?;
    if eps > 0.0 {
        g = g.f_sub(&w.f_unsqueeze(0)?.f_mul_scalar(bcoef)?)?;
    }
    let g = g.f_mul(&k)?;
    // Back to the input's layout (N, C, d...).
    let mut rows_shape: Vec<i64> = vec![shape[0]];
    rows_shape.extend_from_slice(&shape[2..]);
    rows_shape.push(c);
    let grad = g
        .f_reshape(rows_shape.as_slice())?
        .f_movedim([-1], [1])?
        .f_contiguous()?;
    let loss = match (p.reduction, divisor) {
        (Reduction::None, _) => row_loss.f_reshape(target.size().as_slice())?,
        (Reduction::Sum, _) => row_loss.f_sum(kind)?,
        (Reduction::Mean, Some(dv)) => row_loss.f_sum(kind)?.f_div(&dv)?,
        (Reduction::Mean, None) => unreachable!("mean always has a divisor"),
    };
    Ok((loss, grad))
}
