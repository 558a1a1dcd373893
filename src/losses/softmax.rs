//! One fused kernel for the softmax family of long-tail losses.
//!
//! Per row i with label y, the logits are adjusted to
//! `u_j = s·(z_j − m_y·[j = y]) + b_j` (scale s, target margin m, per-class offset b), and the
//! row loss is
//! `ℓ_i = α_y · h(L_i)`, `L_i = (1−ε)·w_y·(−log p_y) + (ε/C)·Σ_j w_j·(−log p_j)`, `p = softmax(u)`,
//! with `h(L) = L` or, for focal losses, `h(L) = (1 − e^{−L})^γ · L`. With unit weights and no
//! smoothing `1 − e^{−L} = 1 − p_y`, the softmax focal factor; with class weights it is the
//! LDAM-DRW `FocalLoss`. Logit adjustment, Balanced Softmax (offsets), LDAM (margins, scale),
//! weighted and class-balanced CE (weights) and focal loss are all this one function:
//! * logit adjustment, `b = τ·log π` (Menon et al., ICLR 2021; google-research/google-research
//!   `logit_adjustment/main.py`);
//! * Balanced Softmax, `b = log n` (Ren et al., NeurIPS 2020;
//!   jiawei-ren/BalancedMetaSoftmax-Classification `loss/BalancedSoftmaxLoss.py`);
//! * LDAM, `m_y ∝ n_y^{−1/4}` with scale s (Cao et al., NeurIPS 2019; kaidic/LDAM-DRW
//!   `losses.py`, `LDAMLoss`, whose `FocalLoss` is the weighted focal form here);
//! * class-balanced weights `(1 − β)/(1 − β^{n})` (Cui et al., CVPR 2019);
//! * softmax focal loss (Lin et al., ICCV 2017).
//!
//! The gradient has the closed form `∂ℓ/∂z_j = s·(P·p_j − Q·[j = y] − R·w_j)` with three row
//! scalars, so one pass over a row (resident in L1) yields the loss and the gradient.

use super::blocks::{run_blocks, BlockPlan, BlockWork};
use super::lanes::{affine_max, exp_shift_sum, max_lanes};
use super::{check_per_class, inverse_divisor, Layout, Normalization, Real, Reduction};
use crate::error::{CoreError, Result};

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

/// Logits handled by one rayon task (whole rows). A block size fixed by the shape alone keeps
/// the summation order, and so the result, independent of the number of threads.
const BLOCK_ELEMS: usize = 16 * 1024;
/// Below this many logits, waking the rayon pool costs more than it saves.
const PARALLEL_MIN_ELEMS: usize = 64 * 1024;

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
    let want_loss = if p.reduction == Reduction::None {
        layout.rows()
    } else {
        1
    };
    if loss.len() != want_loss {
        return Err(CoreError::shape(format!(
            "loss buffer should have {want_loss} elements, but got {}",
            loss.len()
        )));
    }
    if c == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
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
    let weight_total = p
        .weight
        .map_or(c as f64, |w| w.iter().map(|x| x.to_f64()).sum());
    let ctx = RowContext {
        p,
        c,
        weight_total: T::from_f64(weight_total),
        grad_factor: T::from_f64(inverse_divisor(divisor)),
    };

    if layout.is_empty() {
        // No logits (N = 0 or an empty trailing dimension): a "mean" over nothing is NaN.
        if p.reduction != Reduction::None {
            loss[0] = T::from_f64(0.0 / divisor);
        }
        return Ok(());
    }
    // Blocks of whole samples: a sample with trailing dimensions (d > 1) is one contiguous
    // (C, D) slab, a block of its own, whose rows are gathered into scratch buffers.
    let plan = BlockPlan {
        row_elems: c * d,
        out_per_row: d,
        block_rows: if d == 1 { (BLOCK_ELEMS / c).max(1) } else { 1 },
        parallel_min_elems: PARALLEL_MIN_ELEMS,
        flush_denormals: true,
    };
    let work = SoftmaxBlocks {
        ctx: &ctx,
        target,
        d,
    };
    let none = p.reduction == Reduction::None;
    let out = if none { Some(&mut *loss) } else { None };
    let partial = run_blocks(input, grad, out, &plan, &work);
    if !none {
        // Summed in block order, so the result does not depend on the number of threads.
        loss[0] = T::from_f64(partial.iter().sum::<f64>() / divisor);
    }
    Ok(())
}

/// One block of whole samples of the softmax kernel (see [`BlockWork`]): returns the block's
/// loss sum, or writes each row's loss into `out` when given (`reduction="none"`).
struct SoftmaxBlocks<'a, 'b, 'c, T> {
    ctx: &'a RowContext<'a, 'b, T>,
    target: &'c [i64],
    d: usize,
}

impl<T: Real> BlockWork<T> for SoftmaxBlocks<'_, '_, '_, T> {
    type Out = f64;

    #[inline(always)]
    fn run(&self, first_sample: usize, z: &[T], g: &mut [T], mut out: Option<&mut [T]>) -> f64 {
        let (ctx, d) = (self.ctx, self.d);
        let c = ctx.c;
        let r0 = first_sample * d;
        let target = &self.target[r0..r0 + z.len() / c];
        let mut acc = 0.0f64;
        let mut put = |k: usize, v: T| match out.as_deref_mut() {
            Some(l) => l[k] = v,
            None => acc += v.to_f64(),
        };
        if d == 1 {
            for (k, (grow, zrow)) in g.chunks_mut(c).zip(z.chunks(c)).enumerate() {
                put(k, ctx.row(zrow, target[k], grow));
            }
        } else {
            let mut zs = vec![T::ZERO; c];
            let mut gs = vec![T::ZERO; c];
            for s in 0..d {
                for (j, zj) in zs.iter_mut().enumerate() {
                    *zj = z[j * d + s];
                }
                put(s, ctx.row(&zs, target[s], &mut gs));
                for (j, &gj) in gs.iter().enumerate() {
                    g[j * d + s] = gj;
                }
            }
        }
        acc
    }
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
    #[inline(always)]
    fn row(&self, z: &[T], y: i64, g: &mut [T]) -> T {
        let p = self.p;
        if y == p.ignore_index {
            g.fill(T::ZERO);
            return T::ZERO;
        }
        let y = y as usize;
        let c = self.c;
        let s = p.scale;
        // u = s·z + b and its maximum in one pass, then the target margin.
        let mut mx = match p.offsets {
            Some(b) => affine_max(g, z, s, Some(b)),
            None => affine_max(g, z, s, None),
        };
        if let Some(m) = p.margins {
            let before = g[y];
            g[y] = before - s * m[y];
            if before >= mx {
                // The target was the maximum: find the new one, so exp cannot underflow.
                mx = max_lanes(g);
            }
        }
        let u_y = g[y];
        // Everything is taken relative to the maximum: −log p_j = log Σ − (u_j − max) keeps
        // full relative precision for confident rows whatever the size of the logits.
        let eps = p.label_smoothing;
        let wu = if eps > T::ZERO {
            weighted_shifted_sum(g, p.weight, mx)
        } else {
            T::ZERO
        };
        let sum = exp_shift_sum(g, mx);
        let log_sum = sum.ln();
        let w_y = p.weight.map_or(T::ONE, |w| w[y]);
        let a = (T::ONE - eps) * w_y;
        let bcoef = eps / T::from_f64(c as f64);
        // L = a·(log Σ − (u_y − max)) + (ε/C)·(W·log Σ − Σ_j w_j (u_j − max))
        let mut l = a * (log_sum - (u_y - mx));
        if eps > T::ZERO {
            l = l + bcoef * (self.weight_total * log_sum - wu);
        }
        // dL/du_j = (a + bW)·p_j − a·[j=y] − b·w_j; a focal factor scales all of it by h'(L).
        let (value, dh) = if p.gamma > T::ZERO {
            focal(l, p.gamma)
        } else {
            (l, T::ONE)
        };
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
    // 1 − e^{−L}, never negative from rounding; a NaN L (a NaN logit) stays NaN, so that the
    // row's loss and gradient are NaN as in torch.
    let t = -(-l).exp_m1();
    let t = if t < T::ZERO { T::ZERO } else { t };
    if t == T::ZERO {
        // h'(0) is 0 for γ > 0 (the limit of γ·t^{γ−1}·e^{−L}·L + t^γ).
        return (T::ZERO, T::ZERO);
    }
    let tg = t.powf(gamma);
    let dh = gamma * tg / t * (-l).exp() * l + tg;
    (tg * l, dh)
}

/// `Σ_j w_j (x_j − shift)`, or `Σ_j (x_j − shift)` without weights; terms with `w_j = 0` are
/// skipped so that a `−inf` logit of a zero-weight class does not make `0·inf = NaN`.
#[inline]
fn weighted_shifted_sum<T: Real>(x: &[T], w: Option<&[T]>, shift: T) -> T {
    match w {
        Some(w) => x.iter().zip(w).fold(T::ZERO, |acc, (&xj, &wj)| {
            if wj == T::ZERO {
                acc
            } else {
                acc + wj * (xj - shift)
            }
        }),
        None => x.iter().fold(T::ZERO, |acc, &xj| acc + (xj - shift)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive row loss: log-softmax of the adjusted logits, written out term by term.
    fn naive_row(z: &[f64], y: usize, p: &SoftmaxLossParams<'_, f64>) -> f64 {
        let c = z.len();
        let u: Vec<f64> = (0..c)
            .map(|j| {
                let m = if j == y {
                    p.margins.map_or(0.0, |m| m[y])
                } else {
                    0.0
                };
                p.scale * (z[j] - m) + p.offsets.map_or(0.0, |b| b[j])
            })
            .collect();
        let lse = u.iter().map(|v| v.exp()).sum::<f64>().ln();
        let w = |j: usize| p.weight.map_or(1.0, |w| w[j]);
        let eps = p.label_smoothing;
        let mut l = (1.0 - eps) * w(y) * (lse - u[y]);
        l += eps / c as f64 * (0..c).map(|j| w(j) * (lse - u[j])).sum::<f64>();
        let focal = (1.0 - (-l).exp()).powf(p.gamma);
        p.alpha.map_or(1.0, |a| a[y]) * focal * l
    }

    fn naive_mean(z: &[f64], t: &[i64], c: usize, p: &SoftmaxLossParams<'_, f64>) -> f64 {
        let (mut sum, mut div) = (0.0, 0.0);
        for (i, &y) in t.iter().enumerate() {
            if y == p.ignore_index {
                continue;
            }
            sum += naive_row(&z[i * c..(i + 1) * c], y as usize, p);
            div += p.weight.map_or(1.0, |w| w[y as usize]);
        }
        sum / div
    }

    fn logits(n: usize, c: usize) -> Vec<f64> {
        (0..n * c)
            .map(|i| ((i * 7919 + 13) % 97) as f64 / 13.0 - 3.5)
            .collect()
    }

    #[test]
    fn value_and_gradient_match_the_naive_formula() {
        let (n, c) = (7, 5);
        let z = logits(n, c);
        let t = vec![0, 4, 2, -100, 1, 3, 4];
        let offsets = [0.3, -1.0, 0.0, 2.0, -0.5];
        let margins = [0.1, 0.2, 0.3, 0.4, 0.5];
        let weight = [1.0, 0.5, 2.0, 1.5, 0.25];
        let alpha = [0.9, 1.1, 1.0, 0.5, 2.0];
        let params = SoftmaxLossParams {
            offsets: Some(&offsets[..]),
            margins: Some(&margins[..]),
            scale: 1.7,
            weight: Some(&weight[..]),
            alpha: Some(&alpha[..]),
            gamma: 1.5,
            label_smoothing: 0.1,
            ..SoftmaxLossParams::cross_entropy()
        };
        let layout = Layout { n, c, d: 1 };
        let mut loss = [0.0];
        let mut grad = vec![0.0; n * c];
        softmax_loss(&z, &t, layout, &params, &mut loss, &mut grad).unwrap();
        let want = naive_mean(&z, &t, c, &params);
        assert!((loss[0] - want).abs() < 1e-12, "{} vs {want}", loss[0]);
        // Central differences of the naive formula (margins and offsets are constants).
        for k in 0..n * c {
            let h = 1e-6;
            let (mut zp, mut zm) = (z.clone(), z.clone());
            zp[k] += h;
            zm[k] -= h;
            let fd =
                (naive_mean(&zp, &t, c, &params) - naive_mean(&zm, &t, c, &params)) / (2.0 * h);
            assert!(
                (grad[k] - fd).abs() < 1e-7,
                "grad[{k}] = {} vs {fd}",
                grad[k]
            );
        }
    }

    #[test]
    fn trailing_dimensions_equal_moved_rows() {
        // (N, C, D) = (2, 3, 4) against the same rows laid out as (N·D, C).
        let (n, c, d) = (2, 3, 4);
        let z = logits(n, c * d);
        let t: Vec<i64> = (0..n * d).map(|i| (i % c) as i64).collect();
        let mut rows = vec![0.0; n * c * d];
        for i in 0..n {
            for s in 0..d {
                for j in 0..c {
                    rows[(i * d + s) * c + j] = z[i * c * d + j * d + s];
                }
            }
        }
        let p = SoftmaxLossParams {
            reduction: Reduction::None,
            ..SoftmaxLossParams::cross_entropy()
        };
        let (mut l1, mut g1) = (vec![0.0; n * d], vec![0.0; n * c * d]);
        let (mut l2, mut g2) = (vec![0.0; n * d], vec![0.0; n * c * d]);
        softmax_loss(&z, &t, Layout { n, c, d }, &p, &mut l1, &mut g1).unwrap();
        softmax_loss(
            &rows,
            &t,
            Layout { n: n * d, c, d: 1 },
            &p,
            &mut l2,
            &mut g2,
        )
        .unwrap();
        assert_eq!(l1, l2);
        for i in 0..n {
            for s in 0..d {
                for j in 0..c {
                    assert_eq!(g1[i * c * d + j * d + s], g2[(i * d + s) * c + j]);
                }
            }
        }
    }

    #[test]
    fn rejects_targets_out_of_range() {
        let z = logits(2, 3);
        let p = SoftmaxLossParams::<f64>::cross_entropy();
        let (mut l, mut g) = ([0.0], vec![0.0; 6]);
        let err =
            softmax_loss(&z, &[0, 3], Layout { n: 2, c: 3, d: 1 }, &p, &mut l, &mut g).unwrap_err();
        assert!(
            matches!(err, CoreError::OutOfRange(ref m) if m.contains("target=3")),
            "{err:?}"
        );
        let err =
            softmax_loss(&z, &[0], Layout { n: 2, c: 3, d: 1 }, &p, &mut l, &mut g).unwrap_err();
        assert!(matches!(err, CoreError::Shape(_)));
    }

    #[test]
    fn extreme_logits_stay_finite_and_all_ignored_mean_is_nan() {
        let z = [100.0f32, -100.0, 0.0, -100.0, 100.0, 0.0];
        let p = SoftmaxLossParams::<f32>::cross_entropy();
        let (mut l, mut g) = ([0.0f32], vec![0.0f32; 6]);
        softmax_loss(&z, &[1, 0], Layout { n: 2, c: 3, d: 1 }, &p, &mut l, &mut g).unwrap();
        assert!((l[0] - 200.0).abs() < 1e-3, "{}", l[0]);
        assert!(g.iter().all(|v| v.is_finite()));
        softmax_loss(
            &z,
            &[-100, -100],
            Layout { n: 2, c: 3, d: 1 },
            &p,
            &mut l,
            &mut g,
        )
        .unwrap();
        assert!(l[0].is_nan());
        assert!(g.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn nan_logit_gives_nan_row_loss_with_focal_factor() {
        // The focal factor must not turn a NaN row into 0; the other row stays finite.
        let z = [f32::NAN, 1.0, 0.0, 0.5, -1.0, 2.0];
        let p = SoftmaxLossParams {
            gamma: 2.0f32,
            reduction: Reduction::None,
            ..SoftmaxLossParams::<f32>::cross_entropy()
        };
        let (mut l, mut g) = ([0.0f32; 2], vec![0.0f32; 6]);
        softmax_loss(&z, &[1, 2], Layout { n: 2, c: 3, d: 1 }, &p, &mut l, &mut g).unwrap();
        assert!(l[0].is_nan(), "{}", l[0]);
        assert!(l[1].is_finite() && l[1] > 0.0, "{}", l[1]);
    }

    #[test]
    fn result_does_not_depend_on_parallelism() {
        let (n, c) = (3000, 40);
        let z: Vec<f32> = logits(n, c).iter().map(|&v| v as f32).collect();
        let t: Vec<i64> = (0..n).map(|i| (i * 7 % c) as i64).collect();
        let p = SoftmaxLossParams::<f32>::cross_entropy();
        let (mut l1, mut g1) = ([0.0f32], vec![0.0f32; n * c]);
        softmax_loss(&z, &t, Layout { n, c, d: 1 }, &p, &mut l1, &mut g1).unwrap();
        let mut rows = vec![0.0f32; n];
        let mut g2 = vec![0.0f32; n * c];
        let p_none = SoftmaxLossParams {
            reduction: Reduction::None,
            ..p
        };
        softmax_loss(&z, &t, Layout { n, c, d: 1 }, &p_none, &mut rows, &mut g2).unwrap();
        let mean = rows.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((l1[0] as f64 - mean).abs() < 1e-5);
    }

    /// A NaN logit makes its own row's loss and gradient NaN, as in `F.cross_entropy`, and no
    /// other row's, with and without the focal factor, weights and smoothing. The focal factor
    /// used to clamp `1 − e^{−L}` with a max that dropped NaN, giving that row a loss of 0.
    #[test]
    fn nan_logit_propagates_to_its_row_only() {
        let (n, c) = (3, 4);
        let mut z: Vec<f32> = logits(n, c).iter().map(|&v| v as f32).collect();
        z[c + 2] = f32::NAN;
        let t = [0i64, 1, 3];
        let weight = [1.0f32, 0.5, 2.0, 1.0];
        for (gamma, eps, w) in [
            (0.0, 0.0, None),
            (2.0, 0.0, None),
            (1.5, 0.1, Some(&weight[..])),
            (2.0, 0.0, Some(&weight[..])),
        ] {
            let p = SoftmaxLossParams {
                gamma,
                label_smoothing: eps,
                weight: w,
                reduction: Reduction::None,
                ..SoftmaxLossParams::cross_entropy()
            };
            let (mut l, mut g) = (vec![0.0f32; n], vec![0.0f32; n * c]);
            softmax_loss(&z, &t, Layout { n, c, d: 1 }, &p, &mut l, &mut g).unwrap();
            assert!(l[1].is_nan(), "γ={gamma} ε={eps}: {l:?}");
            assert!(g[c..2 * c].iter().all(|v| v.is_nan()), "γ={gamma}: {g:?}");
            assert!(l[0].is_finite() && l[2].is_finite(), "γ={gamma}: {l:?}");
            assert!(g[..c].iter().chain(&g[2 * c..]).all(|v| v.is_finite()));
            let mut mean = [0.0f32];
            let p = SoftmaxLossParams {
                reduction: Reduction::Mean,
                ..p
            };
            softmax_loss(&z, &t, Layout { n, c, d: 1 }, &p, &mut mean, &mut g).unwrap();
            assert!(mean[0].is_nan());
        }
    }
}
