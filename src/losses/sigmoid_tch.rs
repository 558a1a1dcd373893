//! The sigmoid-family loss of [`super::sigmoid`] written as libtorch ops, for tensors the CPU
//! kernel cannot take (CUDA). Same formula, same gradient, same reductions, same statistics.

use tch::{Kind, Tensor};

use super::sigmoid::SigmoidNormalization;
use super::{on_host, Reduction};
use crate::error::{CoreError, Result};

/// How each row's target is given (see `SigmoidTarget`).
pub enum SigmoidTargetTensor {
    Labels {
        labels: Tensor,
        num_labels: i64,
        ignore_index: i64,
    },
    Dense(Tensor),
}

/// The tensor-valued parameters of the sigmoid-family loss (see `SigmoidLossParams`).
pub struct SigmoidLossTensors {
    pub gamma: f64,
    pub alpha: Option<f64>,
    pub weight: Option<Tensor>,
    pub label_weight: Option<Tensor>,
    pub pos_weight: Option<Tensor>,
    pub neg_weight: Option<Tensor>,
    pub neg_weight_fg_only: bool,
    pub reduction: Reduction,
    pub normalization: SigmoidNormalization,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad, stats)` as the CPU kernel does; `stats` is `(2, C)` when asked for.
/// `input` has C = its last dimension columns; label targets need a 2-D input.
pub fn sigmoid_loss_tch(
    input: &Tensor,
    target: &SigmoidTargetTensor,
    p: &SigmoidLossTensors,
    collect_stats: bool,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let shape = input.size();
    let c = *shape.last().unwrap_or(&0);
    if c == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
    }
    let x = input.f_reshape([-1, c])?;
    let kind = x.kind();
    let dev = x.device();
    let n = x.size()[0];
    let ones_n = Tensor::f_ones([n], (kind, dev))?;
    let (t, valid, fg, row_w) = match target {
        SigmoidTargetTensor::Labels {
            labels,
            num_labels,
            ignore_index,
        } => {
            let valid = labels.f_ne(*ignore_index)?;
            let bad = labels
                .f_lt(0)?
                .f_logical_or(&labels.f_ge(*num_labels)?)?
                .f_logical_and(&valid)?;
            if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
                let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
                let val = labels.f_int64_value(&[pos])?;
                return Err(CoreError::out_of_range(format!(
                    "target should contain labels in [0, {num_labels}) or ignore_index={ignore_index}, but got \
                     target={val} at position {pos}"
                )));
            }
            let safe = labels.f_where_scalarother(&valid, 0)?;
            // Labels >= C (background) fall into a dropped extra column.
            let col = safe.f_clamp_max(c)?.f_unsqueeze(1)?;
            let t = Tensor::f_zeros([n, c + 1], (kind, dev))?
                .f_scatter_value(1, &col, 1.0)?
                .f_narrow(1, 0, c)?;
            let fg = safe.f_lt(c)?.f_logical_and(&valid)?;
            let v = match &p.label_weight {
                Some(v) => v.f_index_select(0, &safe)?,
                None => ones_n.shallow_clone(),
            };
            (t, valid.f_to_kind(kind)?, Some(fg), v)
        }
        SigmoidTargetTensor::Dense(t) => (
            t.f_reshape([-1, c])?.f_to_kind(kind)?,
            ones_n.shallow_clone(),
            None,
            ones_n.shallow_clone(),
        ),
    };
    let nan_rows = x
        .f_isnan()?
        .f_any_dim(1, false)?
        .f_logical_and(&valid.f_gt(0.0)?)?;
    if on_host(input) && nan_rows.f_any()?.f_int64_value(&[])? != 0 {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    let one_m_t = t.f_neg()?.f_add_scalar(1.0)?;
    let mut row = row_w.f_mul(&valid)?;
    if let Some(w) = &p.weight {
        row = row.f_mul(w)?;
    }
    let mut w = row.f_unsqueeze(1)?.f_expand([n, c], false)?;
    if let Some(a) = p.alpha {
        w = w.f_mul(&t.f_mul_scalar(a)?.f_add(&one_m_t.f_mul_scalar(1.0 - a)?)?)?;
    }
    if p.pos_weight.is_some() || p.neg_weight.is_some() {
        let ones_c = Tensor::f_ones([c], (kind, dev))?;
        let pw = p.pos_weight.as_ref().unwrap_or(&ones_c).f_unsqueeze(0)?;
        let mut qw = p
            .neg_weight
            .as_ref()
            .unwrap_or(&ones_c)
            .f_unsqueeze(0)?
            .f_expand([n, c], false)?;
        if let (true, Some(fg)) = (p.neg_weight_fg_only, &fg) {
            qw = qw.f_where_scalarother(&fg.f_unsqueeze(1)?, 1.0)?;
        }
        w = w.f_mul(&t.f_mul(&pw)?.f_add(&one_m_t.f_mul(&qw)?)?)?;
    }
    // σ(z) and σ(−z) separately, and BCE as log1p(e^{−|z|}) plus the linear part of the
    // side the logit lies on: no difference of nearly equal numbers, so an easy positive
    // (t = 1, z ≫ 0) keeps its float32 relative precision, as in the CPU kernel.
    let s = x.f_sigmoid()?;
    let s_neg = x.f_neg()?.f_sigmoid()?;
    let linear = x
        .f_mul(&one_m_t)?
        .f_where_self(&x.f_ge(0.0)?, &x.f_neg()?.f_mul(&t)?)?;
    let b = x.f_abs()?.f_neg()?.f_exp()?.f_log1p()?.f_add(&linear)?;
    let s_minus_t = s.f_mul(&one_m_t)?.f_sub(&s_neg.f_mul(&t)?)?;
    let (elem, dl) = if p.gamma > 0.0 {
        let q = s.f_mul(&one_m_t)?.f_add(&s_neg.f_mul(&t)?)?;
        let m = q.f_pow_tensor_scalar(p.gamma)?;
        let dq = s
            .f_mul(&s_neg)?
            .f_mul(&t.f_mul_scalar(-2.0)?.f_add_scalar(1.0)?)?;
        let dm = m
            .f_div(&q)?
            .f_mul_scalar(p.gamma)?
            .f_mul(&dq)?
            .f_where_scalarother(&q.f_gt(0.0)?, 0.0)?;
        (m.f_mul(&b)?, dm.f_mul(&b)?.f_add(&m.f_mul(&s_minus_t)?)?)
    } else {
        (b.shallow_clone(), s_minus_t.shallow_clone())
    };
    let elem = elem.f_mul(&w)?;
    let stats = if collect_stats {
        let a = s_minus_t.f_abs()?.f_mul(&w)?;
        let pos = a.f_mul(&t)?.f_sum_dim_intlist(0, false, kind)?;
        let neg = a.f_mul(&one_m_t)?.f_sum_dim_intlist(0, false, kind)?;
        Some(Tensor::f_stack(&[pos, neg], 0)?)
    } else {
        None
    };
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => None,
        (Reduction::Mean, Some(f)) => Some(
            Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(dev)?
                .f_squeeze()?,
        ),
        (Reduction::Mean, None) => {
            let rows = valid.f_sum(kind)?;
            Some(match p.normalization {
                SigmoidNormalization::Elements => rows.f_mul_scalar(c)?,
                SigmoidNormalization::Rows => rows,
            })
        }
    };
    let mut grad = dl.f_mul(&w)?;
    if let Some(dv) = &divisor {
        grad = grad.f_div(&dv.f_where_scalarother(&dv.f_ne(0.0)?, f64::INFINITY)?)?;
    }
    let grad = grad.f_reshape(shape.as_slice())?.f_contiguous()?;
    let loss = match (p.reduction, divisor) {
        (Reduction::None, _) => elem.f_reshape(shape.as_slice())?.f_contiguous()?,
        (Reduction::Sum, _) => elem.f_sum(Kind::Double)?.f_to_kind(kind)?,
        (Reduction::Mean, Some(dv)) => elem.f_sum(Kind::Double)?.f_to_kind(kind)?.f_div(&dv)?,
        (Reduction::Mean, None) => unreachable!("mean always has a divisor"),
    };
    Ok((loss, grad, stats))
}
