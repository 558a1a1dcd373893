//! The Seesaw kernel of [`super::seesaw`] written as libtorch ops (for CUDA tensors), in log
//! space: `u = z + (log M + log C + log K) ⊙ (1 − onehot)` on the foreground columns of
//! foreground rows, then cross-entropy on `u` with the factors treated as constants.

use tch::{Kind, Tensor};

use super::seesaw::SeesawForm;
use super::{on_host, Reduction};
use crate::error::{CoreError, Result};

/// The tensor-valued parameters of the Seesaw loss (see `SeesawParams`).
pub struct SeesawTensors {
    pub num_classes: i64,
    pub form: SeesawForm,
    pub counts: Option<Tensor>,
    pub p: f64,
    pub q: f64,
    pub eps: f64,
    pub factors: Option<Tensor>,
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad)` laid out as the CPU kernel's outputs.
pub fn seesaw_loss_tch(
    input: &Tensor,
    target: &Tensor,
    p: &SeesawTensors,
) -> Result<(Tensor, Tensor)> {
    let c = p.num_classes;
    let kind = input.kind();
    let dev = input.device();
    let n = input.size()[0];
    let num_labels = p.form.num_labels(c as usize) as i64;
    let valid = target.f_ne(p.ignore_index)?;
    let bad = target
        .f_lt(0)?
        .f_logical_or(&target.f_ge(num_labels)?)?
        .f_logical_and(&valid)?;
    if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
        let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
        let val = target.f_int64_value(&[pos])?;
        return Err(CoreError::out_of_range(format!(
            "target should contain labels in [0, {num_labels}) or ignore_index={}, but got target={val} at position {pos}",
            p.ignore_index
        )));
    }
    let safe = target.f_where_scalarother(&valid, 0)?;
    let fg = safe.f_lt(c)?.f_logical_and(&valid)?;
    let ks = if p.form == SeesawForm::Background {
        c + 1
    } else {
        c
    };
    let classes = input.f_narrow(1, 0, ks)?;
    let nan_rows = input
        .f_isnan()?
        .f_any_dim(1, false)?
        .f_logical_and(&valid)?;
    if on_host(input) && nan_rows.f_any()?.f_int64_value(&[])? != 0 {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    // Rows of the class softmax: every valid row, except background rows of the objectness form.
    let in_cls = if p.form == SeesawForm::Objectness {
        fg.shallow_clone()
    } else {
        valid.shallow_clone()
    };
    let y_cls = safe.f_clamp_max(ks - 1)?;
    let onehot = classes
        .f_zeros_like()?
        .f_scatter_value(1, &y_cls.f_unsqueeze(1)?, 1.0)?;
    let mut log_s = Tensor::f_zeros([n, c], (kind, dev))?;
    let y_fg = safe.f_clamp_max(c - 1)?;
    if let (true, Some(counts)) = (p.p > 0.0, &p.counts) {
        let lc = counts.f_clamp_min(1.0)?.f_log()?;
        let ly = lc.f_index_select(0, &y_fg)?.f_unsqueeze(1)?;
        log_s = log_s.f_add(
            &lc.f_unsqueeze(0)?
                .f_sub(&ly)?
                .f_clamp_max(0.0)?
                .f_mul_scalar(p.p)?,
        )?;
    }
    if p.q > 0.0 {
        let logp = classes.f_log_softmax(1, kind)?.f_narrow(1, 0, c)?;
        let lsy = logp
            .f_gather(1, &y_fg.f_unsqueeze(1)?, false)?
            .f_clamp_min(p.eps.ln())?;
        log_s = log_s.f_add(&logp.f_sub(&lsy)?.f_clamp_min(0.0)?.f_mul_scalar(p.q)?)?;
    }
    if let Some(k) = &p.factors {
        log_s = log_s.f_add(&k.f_log()?)?;
    }
    if ks > c {
        log_s = Tensor::f_cat(&[log_s, Tensor::f_zeros([n, ks - c], (kind, dev))?], 1)?;
    }
    // Only non-target columns of foreground rows are adjusted.
    let adjust = onehot.f_eq(0.0)?.f_logical_and(&fg.f_unsqueeze(1)?)?;
    let u = classes.f_add(&log_s.f_where_scalarother(&adjust, 0.0)?)?;
    let logp = u.f_log_softmax(1, kind)?;
    let ones = Tensor::f_ones([n], (kind, dev))?;
    let w = p.weight.as_ref().unwrap_or(&ones);
    let w_cls = w.f_mul(&in_cls.f_to_kind(kind)?)?;
    let w_all = w.f_mul(&valid.f_to_kind(kind)?)?;
    let row_cls = logp
        .f_gather(1, &y_cls.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?
        .f_mul(&w_cls)?;
    let row_cls = row_cls.f_where_scalarother(&in_cls, 0.0)?;
    let g_cls = logp
        .f_exp()?
        .f_sub(&onehot)?
        .f_mul(&w_cls.f_unsqueeze(1)?)?;
    let (row_obj, g_obj) = if p.form == SeesawForm::Objectness {
        let zo = input.f_narrow(1, c, 2)?;
        let o = safe.f_eq(c)?.f_to_kind(Kind::Int64)?.f_unsqueeze(1)?;
        let lo = zo.f_log_softmax(1, kind)?;
        let oh = zo.f_zeros_like()?.f_scatter_value(1, &o, 1.0)?;
        let r = lo
            .f_gather(1, &o, false)?
            .f_squeeze_dim(1)?
            .f_neg()?
            .f_mul(&w_all)?;
        let r = r.f_where_scalarother(&valid, 0.0)?;
        (
            Some(r),
            Some(lo.f_exp()?.f_sub(&oh)?.f_mul(&w_all.f_unsqueeze(1)?)?),
        )
    } else {
        (None, None)
    };
    let count = |m: &Tensor| -> Result<Tensor> { Ok(m.f_to_kind(kind)?.f_sum(kind)?) };
    let (div_cls, div_obj) = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => (None, None),
        (Reduction::Mean, Some(f)) => {
            let t = Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(dev)?
                .f_squeeze()?;
            (Some(t.shallow_clone()), Some(t))
        }
        (Reduction::Mean, None) => (Some(count(&in_cls)?), Some(count(&valid)?)),
    };
    let safe_div = |g: Tensor, d: &Option<Tensor>| -> Result<Tensor> {
        Ok(match d {
            Some(d) => g.f_div(&d.f_where_scalarother(&d.f_ne(0.0)?, f64::INFINITY)?)?,
            None => g,
        })
    };
    let g_cls = safe_div(g_cls, &div_cls)?;
    let mut parts = vec![g_cls];
    if let Some(g) = g_obj {
        parts.push(safe_div(g, &div_obj)?);
    }
    let grad = Tensor::f_cat(&parts, 1)?.f_contiguous()?;
    let loss = match p.reduction {
        Reduction::None => match &row_obj {
            Some(r) => Tensor::f_stack(&[row_cls, r.shallow_clone()], 1)?.f_reshape([-1])?,
            None => row_cls,
        },
        _ => {
            let total = |r: &Tensor, d: &Option<Tensor>| -> Result<Tensor> {
                let s = r.f_sum(Kind::Double)?.f_to_kind(kind)?;
                Ok(match d {
                    Some(d) => s.f_div(d)?,
                    None => s,
                })
            };
            let mut cls = total(&row_cls, &div_cls)?;
            if p.form == SeesawForm::Objectness {
                // mmdetection returns 0 for the class term of a batch without positives.
                cls = cls.f_where_scalarother(&in_cls.f_any()?, 0.0)?;
            }
            let obj = match &row_obj {
                Some(r) => total(r, &div_obj)?,
                None => Tensor::f_zeros([], (kind, dev))?,
            };
            Tensor::f_stack(&[cls, obj], 0)?
        }
    };
    Ok((loss, grad))
}
