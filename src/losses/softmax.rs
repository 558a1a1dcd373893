//! One fused kernel for the softmax family of long-tail losses.
//!
//! Per row i with label y, the logits are adjusted to
//! `u_j = s·(z_j − m_y·[j = y]) + b_j` (scale s, target margin m, per-class offset b), and the
//! row loss is
//! `ℓ_i = α_y · h(L_i)`, `L_i = (1−ε)·w_y·(−log p_y) + (ε/C)·Σ_j w_j·(−log p_j)`, `p = softmax(u)`,
//! with `h(L) = L` or, for focal losses, `h(L) = (1 − e^{−L})^γ · L`. With unit weights and no
//! smoothing `1 − e^{−L} = 1 − p_y`, the softmax focal factor; with class weights it is the
//! LDAM-DRW `FocalLoss`. Logit adjustment, Balanced Softmax (offsets), LDAM (margins, scale),
//! weighted and class-balanced CE (weights) and focal loss are all this one function.
//!
//! The gradient has the closed form `∂ℓ/∂z_j = s·(P·p_j − Q·[j = y] − R·w_j)` with three row
//! scalars, so one pass over a row (resident in L1) yields the loss and the gradient.

use rayon::prelude::*;

use super::{check_per_class, Layout, Normalization, Real, Reduction};
use crate::error::{CoreError, Result};
use crate::parallel;

/// The parameters of the softmax-family loss; `None` means "absent" (zero offset or margin,
/// unit weight).
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxLossParams<'a, T> {
    /// Per-class additive offsets `b` (logit adjustment, Balanced Softmax).
    pub offsets: Option<&'a [T]>,
    /// Per-class margins `m`, subtracted from the target logit before scaling (LDAM).
    pub margins: Option<&'a [T]>,
    /// Logit scale `s`.
    pub scale: T,
    /// Class weights `w`, with `F.cross_entropy(weight=)` semantics.
    pub weight: Option<&'a [T]>,
    /// Per-class factors `α_y` on the row loss, outside any normaliser (focal α).
    pub alpha: Option<&'a [T]>,
    /// Focal exponent γ; 0 is plain cross-entropy.
    pub gamma: T,
    /// Label smoothing ε, as in `F.cross_entropy`.
    pub label_smoothing: T,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub normalization: Normalization,
    /// Overrides the `"mean"` divisor (mmdetection's `avg_factor`).
    pub avg_factor: Option<f64>,
}

impl<T: Real> SoftmaxLossParams<'_, T> {
    /// Plain cross-entropy with `"mean"` reduction.
    pub fn cross_entropy() -> Self {
        SoftmaxLossParams {
            offsets: None,
            margins: None,
            scale: T::ONE,
            weight: None,
            alpha: None,
            gamma: T::ZERO,
            label_smoothing: T::ZERO,
            ignore_index: -100,
            reduction: Reduction::Mean,
            normalization: Normalization::Weight,
            avg_factor: None,
        }
    }
}

/// Rows handled by one rayon task; a fixed block size keeps the summation order, and so the
/// result, independent of the number of threads.
const BLOCK_ROWS: usize = 32;

/// Computes the loss into `loss` (length 1, or N·D for `Reduction::None`) and the gradient of
/// that output with respect to `input` into `grad` (same layout as `input`). For `"mean"` and
/// `"sum"` the gradient is that of the reduced scalar; for `"none"` it is that of each row's loss.
pub fn softmax_loss<T: Real>(
    input: &[T],
    target: &[i64],
    layout: Layout,
    p: &SoftmaxLossParams<'_, T>,
    loss: &mut [T],
    grad: &mut [T],
) -> Result<()> {
    let Layout { n, c, d } = layout;
    if input.len() != layout.len() || grad.len() != layout.len() {
        return Err(CoreError::shape(format!(
            "input should have {} elements for shape ({n}, {c}, {d}), but got {}",
            layout.len(),
            input.len()
        )));
    }
    if target.len() != layout.rows() {
        return Err(CoreError::shape(format!(
            "target should have {} elements, one per row of input, but got {}",
            layout.rows(),
            target.len()
        )));
    }
    let want_loss = if p.reduction == Reduction::None { layout.rows() } else { 1 };
    if loss.len() != want_loss {
        return Err(CoreError::shape(format!(
            "loss buffer should have {want_loss} elements, but got {}",
            loss.len()
        )));
    }
    if c == 0 {
        return Err(CoreError::shape("input should have at least one class, but got C = 0"));
    }
    check_per_class("offsets", p.offsets, c)?;
    check_per_class("margins", p.margins, c)?;
    check_per_class("weight", p.weight, c)?;
    check_per_class("alpha", p.alpha, c)?;

    // First pass over the targets only: validate them and find the divisor of "mean".
    let mut weight_sum = 0.0f64;
    let mut count = 0usize;
    for (i, &y) in target.iter().enumerate() {
        if y == p.ignore_index {
            continue;
        }
        if y < 0 || y as usize >= c {
            return Err(CoreError::out_of_range(format!(
                "target should contain class indices in [0, {c}) or ignore_index={}, but got \
                 target={y} at position {i}",
                p.ignore_index
            )));
        }
        count += 1;
        weight_sum += p.weight.map_or(1.0, |w| w[y as usize].to_f64());
    }
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => 1.0,
        (Reduction::Mean, Some(f)) => f,
        (Reduction::Mean, None) => match p.normalization {
            Normalization::Weight => weight_sum,
            Normalization::Count => count as f64,
        },
    };
    // An all-ignored "mean" is 0/0 = NaN, as in torch; its gradient rows are all 0 anyway.
    let inv_div = T::from_f64(if divisor == 0.0 { 0.0 } else { 1.0 / divisor });
    let weight_total = p.weight.map_or(c as f64, |w| w.iter().map(|x| x.to_f64()).sum());
    let ctx = RowContext { p, c, weight_total: T::from_f64(weight_total), grad_factor: inv_div };

    // Blocks of whole samples: a sample with trailing dimensions (d > 1) is one contiguous
    // (C, D) slab whose rows are gathered into scratch buffers.
    let slabs_per_block = if d == 1 { BLOCK_ROWS } else { 1 };
    let block_elems = slabs_per_block * c * d;
    let block_rows = slabs_per_block * d;
    let process = |b: usize, gblock: &mut [T], iblock: &[T], mut lblock: Option<&mut [T]>| -> f64 {
        let r0 = b * block_rows;
        let mut acc = 0.0f64;
        let mut put = |k: usize, v: T| match lblock.as_deref_mut() {
            Some(l) => l[k] = v,
            None => acc += v.to_f64(),
        };
        if d == 1 {
            for (k, (grow, zrow)) in gblock.chunks_mut(c).zip(iblock.chunks(c)).enumerate() {
                put(k, ctx.row(zrow, target[r0 + k], grow));
            }
        } else {
            let mut zs = vec![T::ZERO; c];
            let mut gs = vec![T::ZERO; c];
            for s in 0..d {
                for (j, zj) in zs.iter_mut().enumerate() {
                    *zj = iblock[j * d + s];
                }
                put(s, ctx.row(&zs, target[r0 + s], &mut gs));
                for (j, &gj) in gs.iter().enumerate() {
                    gblock[j * d + s] = gj;
                }
            }
        }
        acc
    };
    let par = parallel::enabled() && layout.rows() > BLOCK_ROWS;
    if p.reduction == Reduction::None {
        if par {
            grad.par_chunks_mut(block_elems)
                .zip(input.par_chunks(block_elems))
                .zip(loss.par_chunks_mut(block_rows))
                .enumerate()
                .for_each(|(b, ((g, z), l))| {
                    process(b, g, z, Some(l));
                });
        } else {
            for (b, ((g, z), l)) in grad
                .chunks_mut(block_elems)
                .zip(input.chunks(block_elems))
                .zip(loss.chunks_mut(block_rows))
                .enumerate()
            {
                process(b, g, z, Some(l));
            }
        }
        return Ok(());
    }
    let partial: Vec<f64> = if par {
        grad.par_chunks_mut(block_elems)
            .zip(input.par_chunks(block_elems))
            .enumerate()
            .map(|(b, (g, z))| process(b, g, z, None))
            .collect()
    } else {
        grad.chunks_mut(block_elems)
            .zip(input.chunks(block_elems))
            .enumerate()
            .map(|(b, (g, z))| process(b, g, z, None))
            .collect()
    };
    // Summed in block order, so the result does not depend on the number of threads.
    loss[0] = T::from_f64(partial.iter().sum::<f64>() / divisor);
    Ok(())
}

/// Row-invariant quantities shared by every row.
struct RowContext<'a, 'b, T> {
    p: &'a SoftmaxLossParams<'b, T>,
    c: usize,
    weight_total: T,
    grad_factor: T,
}

impl<T: Real> RowContext<'_, '_, T> {
    /// Loss of one contiguous row; writes `∂(grad_factor·ℓ)/∂z` into `g`. Ignored rows give 0.
    #[inline]
    fn row(&self, z: &[T], y: i64, g: &mut [T]) -> T {
        let p = self.p;
        if y == p.ignore_index {
            g.fill(T::ZERO);
            return T::ZERO;
        }
        let y = y as usize;
        let c = self.c;
        let s = p.scale;
        // u = s·z + b, then the target margin.
        match p.offsets {
            Some(b) => {
                for ((gj, &zj), &bj) in g.iter_mut().zip(z).zip(b) {
                    *gj = s * zj + bj;
                }
            }
            None => {
                for (gj, &zj) in g.iter_mut().zip(z) {
                    *gj = s * zj;
                }
            }
        }
        if let Some(m) = p.margins {
            g[y] = g[y] - s * m[y];
        }
        let u_y = g[y];
        let mx = max_lanes(g);
        // Sum of w_j·u_j, needed only by label smoothing.
        let eps = p.label_smoothing;
        let wu = if eps > T::ZERO { weighted_sum(g, p.weight) } else { T::ZERO };
        let sum = exp_shift_sum(g, mx);
        let lse = mx + sum.ln();
        let w_y = p.weight.map_or(T::ONE, |w| w[y]);
        let a = (T::ONE - eps) * w_y;
        let bcoef = eps / T::from_f64(c as f64);
        // L = a·(lse − u_y) + (ε/C)·(W·lse − Σ w_j u_j)
        let mut l = a * (lse - u_y);
        if eps > T::ZERO {
            l = l + bcoef * (self.weight_total * lse - wu);
        }
        // dL/du_j = (a + bW)·p_j − a·[j=y] − b·w_j; a focal factor scales all of it by h'(L).
        let (value, dh) = if p.gamma > T::ZERO { focal(l, p.gamma) } else { (l, T::ONE) };
        let alpha_y = p.alpha.map_or(T::ONE, |al| al[y]);
        let k = alpha_y * dh * s * self.grad_factor;
        let pcoef = k * (a + bcoef * self.weight_total) / sum;
        let rcoef = k * bcoef;
        match (p.weight, eps > T::ZERO) {
            (Some(w), true) => {
                for (gj, &wj) in g.iter_mut().zip(w) {
                    *gj = pcoef * *gj - rcoef * wj;
                }
            }
            (None, true) => {
                for gj in g.iter_mut() {
                    *gj = pcoef * *gj - rcoef;
                }
            }
            (_, false) => {
                for gj in g.iter_mut() {
                    *gj = pcoef * *gj;
                }
            }
        }
        g[y] = g[y] - k * a;
        alpha_y * value
    }
}

/// `h(L) = (1 − e^{−L})^γ·L` and `h'(L)`, stable near L = 0.
#[inline]
fn focal<T: Real>(l: T, gamma: T) -> (T, T) {
    let t = (-(-l).exp_m1()).max(T::ZERO); // 1 − e^{−L}, never negative from rounding
    if t == T::ZERO {
        // h'(0) is 0 for γ > 0 (the limit of γ·t^{γ−1}·e^{−L}·L + t^γ).
        return (T::ZERO, T::ZERO);
    }
    let tg = t.powf(gamma);
    let dh = gamma * tg / t * (-l).exp() * l + tg;
    (tg * l, dh)
}

/// Maximum of a row, in 8 independent lanes so that it vectorises.
#[inline(always)]
pub(crate) fn max_lanes<T: Real>(x: &[T]) -> T {
    let mut lanes = [T::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for ch in &mut chunks {
        for k in 0..8 {
            lanes[k] = if ch[k] > lanes[k] { ch[k] } else { lanes[k] };
        }
    }
    let mut m = T::NEG_INFINITY;
    for &v in chunks.remainder().iter().chain(lanes.iter()) {
        m = if v > m { v } else { m };
    }
    // A NaN logit must surface as a NaN loss, not be skipped by the comparisons.
    if x.iter().any(|v| v.is_nan()) {
        return T::from_f64(f64::NAN);
    }
    m
}

/// Replaces `x_j` by `exp(x_j − mx)` and returns their sum (8 lanes, vectorised).
#[inline(always)]
pub(crate) fn exp_shift_sum<T: Real>(x: &mut [T], mx: T) -> T {
    let mut lanes = [T::ZERO; 8];
    let mut chunks = x.chunks_exact_mut(8);
    for ch in &mut chunks {
        for k in 0..8 {
            let e = (ch[k] - mx).exp_bulk();
            ch[k] = e;
            lanes[k] = lanes[k] + e;
        }
    }
    let mut s = T::ZERO;
    for v in chunks.into_remainder() {
        let e = (*v - mx).exp_bulk();
        *v = e;
        s = s + e;
    }
    lanes.iter().fold(s, |acc, &v| acc + v)
}

/// `Σ_j w_j x_j`, or `Σ_j x_j` without weights; terms with `w_j = 0` are skipped so that a
/// `−inf` logit of a zero-weight class does not make `0·inf = NaN`.
#[inline]
fn weighted_sum<T: Real>(x: &[T], w: Option<&[T]>) -> T {
    match w {
        Some(w) => x.iter().zip(w).fold(T::ZERO, |acc, (&xj, &wj)| if wj == T::ZERO { acc } else { acc + wj * xj }),
        None => x.iter().fold(T::ZERO, |acc, &xj| acc + xj),
    }
}
