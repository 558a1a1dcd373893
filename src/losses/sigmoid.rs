//! One fused kernel for the sigmoid (binary cross-entropy) family of detection losses: sigmoid
//! focal loss (Lin et al., ICCV 2017; pytorch/vision `torchvision/ops/focal_loss.py`,
//! open-mmlab/mmdetection `mmdet/models/losses/focal_loss.py`), the class-balanced sigmoid and
//! focal losses (Cui et al., CVPR 2019), EQL (Tan et al., CVPR 2020; tztztztztz/eqlv2
//! `mmdet/models/losses/eql.py`) and EQLv2 (Tan et al., CVPR 2021; tztztztztz/eqlv2
//! `mmdet/models/losses/eqlv2.py`) are all this one function with different weights.
//!
//! Every element `(i, j)` of the logits `z` has a target `t_ij ∈ [0, 1]` (one-hot from a label,
//! or given densely) and the loss
//!
//! `ℓ_ij = W_ij · q_ij^γ · BCE(z_ij, t_ij)`, with `q = σ(1−t) + (1−σ)t` (the focal modulator,
//! `1 − p_t`) and `W_ij = s_i · v_{y_i} · (α t + (1−α)(1−t)) · (P_j t + Q_j (1−t))`:
//! a per-sample weight `s` (mmdetection's `label_weights`), a per-label weight `v`
//! (class-balanced), the focal `α`, and per-class positive/negative weights `P`, `Q` (EQLv2's
//! gradient-guided weights; EQL's `Q = 1 − T_λ(f)`, applied on foreground rows only).
//! All weights are constants for autograd, as in the official code, so
//! `∂ℓ/∂z = W·[γ q^{γ−1} σ(1−σ)(1−2t)·BCE + q^γ (σ − t)]`.
//!
//! The kernel can also return, per class, `Σ_i |σ−t|·t·W` and `Σ_i |σ−t|·(1−t)·W`: the gradient
//! statistics EQLv2 accumulates, in the same pass.

use super::blocks::{run_blocks, BlockPlan, BlockWork};
use super::lanes::sum_lanes;
use super::{inverse_divisor, Real, Reduction};
use crate::error::{CoreError, Result};

/// The float bound of [`sigmoid_loss`]. It was a second trait (`Real` plus `abs`, `powi` and
/// the bulk `log`s); those now live in [`Real`], and this name is kept for the callers.
pub use super::Real as SigmoidReal;

/// `(log(1 + e^{−|z|}), σ(z), σ(−z))` from one `exp(−|z|)`. Both σ(z) and `1 − σ(z) = σ(−z)`
/// are computed as quotients, never as `1 − σ`, so that each keeps its full relative precision
/// wherever it is a normal float (|z| < 87 in f32): `1 − σ(16)` as a difference is 1.19e-7 (one ulp of 1) where the
/// value is 1.13e-7. `softplus(±z) = max(±z, 0) + log(1 + e^{−|z|})` follow without a
/// cancellation. NaN propagates to all three.
#[inline(always)]
fn logistic<T: Real>(z: T) -> (T, T, T) {
    let e = (-z.abs()).exp_bulk();
    let log1p_e = e.ln_1p_bulk();
    let r = T::ONE / (T::ONE + e);
    let er = e * r;
    let pos = z >= T::ZERO;
    (log1p_e, if pos { r } else { er }, if pos { er } else { r })
}

/// The focal exponent, sorted once so that the common cases avoid `powf`.
#[derive(Debug, Clone, Copy)]
enum Gamma<T> {
    Zero,
    Int(i32),
    Real(T),
}

impl<T: Real> Gamma<T> {
    fn new(g: T) -> Self {
        let gf = g.to_f64();
        if gf == 0.0 {
            Gamma::Zero
        } else if gf.fract() == 0.0 && gf <= 16.0 {
            Gamma::Int(gf as i32)
        } else {
            Gamma::Real(g)
        }
    }
    #[inline(always)]
    fn pow(self, q: T) -> T {
        match self {
            Gamma::Zero => T::ONE,
            Gamma::Int(n) => q.powi(n),
            // q^γ = exp(γ log q), vectorisable; 0^γ = 0 for γ > 0.
            Gamma::Real(g) => {
                let v = (g * q.ln_bulk()).exp_bulk();
                if q > T::ZERO {
                    v
                } else {
                    T::ZERO
                }
            }
        }
    }
    fn value(self) -> T {
        match self {
            Gamma::Zero => T::ZERO,
            Gamma::Int(n) => T::from_f64(n as f64),
            Gamma::Real(g) => g,
        }
    }
}

/// How each row's target is given.
#[derive(Debug, Clone, Copy)]
pub enum SigmoidTarget<'a, T> {
    /// One integer label per row. A label `y < C` makes column `y` positive; labels in
    /// `[C, num_labels)` (background) make an all-negative row; `ignore_index` rows contribute
    /// nothing.
    Labels {
        labels: &'a [i64],
        num_labels: usize,
        ignore_index: i64,
    },
    /// A target in `[0, 1]` for every element (torchvision's convention).
    Dense(&'a [T]),
}

/// What `reduction="mean"` divides by when no `avg_factor` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigmoidNormalization {
    /// The number of (non-ignored) elements, N·C: `loss.mean()` in mmdetection and torchvision.
    Elements,
    /// The number of (non-ignored) rows N: EQL, EQLv2 and the class-balanced losses.
    Rows,
}

/// The parameters of the sigmoid-family loss; `None` means "absent" (unit weight).
#[derive(Debug, Clone, Copy)]
pub struct SigmoidLossParams<'a, T> {
    /// Focal exponent γ; 0 is plain BCE.
    pub gamma: T,
    /// Focal α: positives weigh `α`, negatives `1 − α`.
    pub alpha: Option<T>,
    /// Per-row weights `s` (length N).
    pub weight: Option<&'a [T]>,
    /// Per-label weights `v` (length `num_labels`; label targets only).
    pub label_weight: Option<&'a [T]>,
    /// Per-class weights `P` of positive elements (length C).
    pub pos_weight: Option<&'a [T]>,
    /// Per-class weights `Q` of negative elements (length C).
    pub neg_weight: Option<&'a [T]>,
    /// Applies `neg_weight` only to rows with a foreground label (`y < C`), as EQL does.
    pub neg_weight_fg_only: bool,
    pub reduction: Reduction,
    pub normalization: SigmoidNormalization,
    /// Overrides the `"mean"` divisor (mmdetection's `avg_factor`).
    pub avg_factor: Option<f64>,
}

impl<T: Real> SigmoidLossParams<'_, T> {
    /// Plain binary cross-entropy with `"mean"` over elements.
    pub fn bce() -> Self {
        SigmoidLossParams {
            gamma: T::ZERO,
            alpha: None,
            weight: None,
            label_weight: None,
            pos_weight: None,
            neg_weight: None,
            neg_weight_fg_only: false,
            reduction: Reduction::Mean,
            normalization: SigmoidNormalization::Elements,
            avg_factor: None,
        }
    }
}

/// Rows per rayon task; fixed, so results do not depend on the number of threads. Large enough
/// that the per-block gradient statistics stay a small fraction of the (N, C) gradient.
const BLOCK_ROWS: usize = 128;
/// Below this many logits the kernel runs on the calling thread: waking the pool's threads
/// costs about 30–40 µs on a 2-core VM, which a split of less work than this (about 80 µs on
/// one thread) does not win back.
const PARALLEL_MIN_ELEMS: usize = 32 * 1024;

/// Computes the loss into `loss` (length 1, or N·C for `Reduction::None`: one loss per
/// element), the gradient of that output with respect to `input` into `grad`, and, when `stats`
/// is given (length 2·C), the per-class sums `Σ_i |σ−t| t W` (first C) and `Σ_i |σ−t| (1−t) W`
/// (last C). `input` is `(N, C)` row-major. Fails, before producing anything usable, on a label
/// out of range or a NaN logit.
pub fn sigmoid_loss<T: Real>(
    input: &[T],
    target: SigmoidTarget<'_, T>,
    c: usize,
    p: &SigmoidLossParams<'_, T>,
    loss: &mut [T],
    grad: &mut [T],
    stats: Option<&mut [T]>,
) -> Result<()> {
    if c == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
    }
    if !input.len().is_multiple_of(c) || grad.len() != input.len() {
        return Err(CoreError::shape(format!(
            "input should have a multiple of C = {c} elements, but got {}",
            input.len()
        )));
    }
    let n = input.len() / c;
    let want_loss = if p.reduction == Reduction::None {
        input.len()
    } else {
        1
    };
    if loss.len() != want_loss {
        return Err(CoreError::shape(format!(
            "loss buffer should have {want_loss} elements, but got {}",
            loss.len()
        )));
    }
    if let Some(w) = p.weight {
        if w.len() != n {
            return Err(CoreError::shape(format!(
                "weight should have one entry per sample ({n}), but got weight of length {}",
                w.len()
            )));
        }
    }
    super::check_per_class("pos_weight", p.pos_weight, c)?;
    super::check_per_class("neg_weight", p.neg_weight, c)?;
    if let Some(s) = &stats {
        if s.len() != 2 * c {
            return Err(CoreError::shape(format!(
                "stats buffer should have {} elements, but got {}",
                2 * c,
                s.len()
            )));
        }
    }

    // Validate the targets and count the rows that enter "mean".
    let valid_rows = match target {
        SigmoidTarget::Labels {
            labels,
            num_labels,
            ignore_index,
        } => {
            if labels.len() != n {
                return Err(CoreError::shape(format!(
                    "target should have one label per row of input ({n}), but got {}",
                    labels.len()
                )));
            }
            if let Some(v) = p.label_weight {
                if v.len() != num_labels {
                    return Err(CoreError::shape(format!(
                        "label_weight should have one entry per label ({num_labels}), but got {}",
                        v.len()
                    )));
                }
            }
            let mut count = 0usize;
            for (i, &y) in labels.iter().enumerate() {
                if y == ignore_index {
                    continue;
                }
                if y < 0 || y as usize >= num_labels {
                    return Err(CoreError::out_of_range(format!(
                        "target should contain labels in [0, {num_labels}) or ignore_index={ignore_index}, \
                         but got target={y} at position {i}"
                    )));
                }
                count += 1;
            }
            count
        }
        SigmoidTarget::Dense(t) => {
            if t.len() != input.len() {
                return Err(CoreError::shape(format!(
                    "target should have as many elements as input ({}), but got {}",
                    input.len(),
                    t.len()
                )));
            }
            if p.label_weight.is_some() {
                return Err(CoreError::invalid(
                    "label_weight needs integer labels, but got a dense target",
                ));
            }
            n
        }
    };
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => 1.0,
        (Reduction::Mean, Some(f)) => f,
        (Reduction::Mean, None) => match p.normalization {
            SigmoidNormalization::Elements => (valid_rows * c) as f64,
            SigmoidNormalization::Rows => valid_rows as f64,
        },
    };
    let ones = vec![T::ONE; c];
    let ctx = Ctx {
        p,
        c,
        gamma: Gamma::new(p.gamma),
        gf: T::from_f64(inverse_divisor(divisor)),
        pos: p.pos_weight.unwrap_or(&ones),
        neg: p.neg_weight.unwrap_or(&ones),
        ones: &ones,
        alpha_pos: p.alpha.unwrap_or(T::ONE),
        alpha_neg: p.alpha.map_or(T::ONE, |a| T::ONE - a),
    };
    let want_stats = stats.is_some();

    let none = p.reduction == Reduction::None;
    let out = if none { Some(&mut *loss) } else { None };
    let work = SigmoidBlocks {
        ctx: &ctx,
        target,
        want_stats,
    };
    let plan = BlockPlan {
        row_elems: c,
        out_per_row: c,
        block_rows: BLOCK_ROWS,
        parallel_min_elems: PARALLEL_MIN_ELEMS,
        flush_denormals: false,
    };
    let blocks = run_blocks(input, grad, out, &plan, &work);
    if let Some(i) = blocks.iter().find_map(|b| b.1) {
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    if !none {
        // Summed in block order, so the result does not depend on the number of threads.
        loss[0] = T::from_f64(blocks.iter().map(|b| b.0).sum::<f64>() / divisor);
    }
    if let Some(stats) = stats {
        let mut total = vec![0.0f64; 2 * c];
        for b in &blocks {
            for (t, &v) in total.iter_mut().zip(&b.2) {
                *t += v.to_f64();
            }
        }
        for (s, t) in stats.iter_mut().zip(total) {
            *s = T::from_f64(t);
        }
    }
    Ok(())
}

/// One block of rows of the sigmoid kernel (see [`BlockWork`]).
struct SigmoidBlocks<'a, 'b, 'c, T> {
    ctx: &'a Ctx<'a, 'b, T>,
    target: SigmoidTarget<'c, T>,
    want_stats: bool,
}

impl<T: Real> BlockWork<T> for SigmoidBlocks<'_, '_, '_, T> {
    type Out = (f64, Option<usize>, Vec<T>);

    #[inline(always)]
    fn run(&self, r0: usize, zb: &[T], gb: &mut [T], ob: Option<&mut [T]>) -> Self::Out {
        let (ctx, target, want_stats) = (self.ctx, self.target, self.want_stats);
        let (c, p) = (ctx.c, ctx.p);
        let mut scratch = if ob.is_none() {
            vec![T::ZERO; c]
        } else {
            Vec::new()
        };
        let mut st = if want_stats {
            vec![T::ZERO; 2 * c]
        } else {
            Vec::new()
        };
        let mut ob = ob;
        let mut acc = 0.0f64;
        let mut nan_row = None;
        for (k, (z, g)) in zb.chunks(c).zip(gb.chunks_mut(c)).enumerate() {
            let i = r0 + k;
            let l: &mut [T] = match ob.as_deref_mut() {
                Some(o) => &mut o[k * c..(k + 1) * c],
                None => &mut scratch,
            };
            let sw = p.weight.map_or(T::ONE, |w| w[i]);
            let out = RowOut {
                g,
                l: &mut *l,
                st: if want_stats { Some(&mut st[..]) } else { None },
            };
            match target {
                SigmoidTarget::Labels {
                    labels,
                    ignore_index,
                    ..
                } => ctx.row_labels(z, labels[i], ignore_index, sw, out),
                SigmoidTarget::Dense(t) => ctx.row_dense(z, &t[i * c..(i + 1) * c], sw, out),
            }
            let s = sum_lanes(l);
            if s.is_nan() && nan_row.is_none() && z.iter().any(|v| v.is_nan()) {
                nan_row = Some(i);
            }
            acc += s.to_f64();
        }
        (acc, nan_row, st)
    }
}

/// Row-invariant quantities shared by every row.
struct Ctx<'a, 'b, T> {
    p: &'a SigmoidLossParams<'b, T>,
    c: usize,
    gamma: Gamma<T>,
    /// The gradient factor: 1/divisor for "mean", else 1.
    gf: T,
    pos: &'a [T],
    neg: &'a [T],
    ones: &'a [T],
    alpha_pos: T,
    alpha_neg: T,
}

/// Where one row's results go: its gradient, its per-element losses, and (EQLv2) the per-class
/// gradient statistics, positives in the first C entries and negatives in the last C.
struct RowOut<'r, T> {
    g: &'r mut [T],
    l: &'r mut [T],
    st: Option<&'r mut [T]>,
}

/// A run of negative columns of a labelled row: logits, their negative weights `Q`, and their
/// slices of the gradient, the losses and the negative statistics (empty without statistics).
struct Negatives<'r, T> {
    z: &'r [T],
    q: &'r [T],
    g: &'r mut [T],
    l: &'r mut [T],
    sn: &'r mut [T],
}

impl<T: Real> Ctx<'_, '_, T> {
    /// A row with an integer label: every column negative except column `y` when `y < C`.
    #[inline(always)]
    fn row_labels(&self, z: &[T], y: i64, ignore_index: i64, sw: T, out: RowOut<'_, T>) {
        let RowOut { g, l, st } = out;
        if y == ignore_index {
            g.fill(T::ZERO);
            l.fill(T::ZERO);
            return;
        }
        let y = y as usize;
        let c = self.c;
        let fg = y < c;
        let base = sw * self.p.label_weight.map_or(T::ONE, |v| v[y]);
        let wn = base * self.alpha_neg;
        let q = if self.p.neg_weight_fg_only && !fg {
            self.ones
        } else {
            self.neg
        };
        // Negative columns on both sides of the positive one, so that the statistics of column
        // y are never touched by its negative form.
        let split = y.min(c);
        let (z_lo, z_hi) = z.split_at(split);
        let (q_lo, q_hi) = q.split_at(split);
        let (g_lo, g_hi) = g.split_at_mut(split);
        let (l_lo, l_hi) = l.split_at_mut(split);
        let mut no_stats: [T; 0] = [];
        let mut no_stats_hi: [T; 0] = [];
        let (sp, sn_lo, sn_hi) = match st {
            Some(st) => {
                let (sp, sn) = st.split_at_mut(c);
                let (lo, hi) = sn.split_at_mut(split);
                (Some(sp), lo, hi)
            }
            None => (None, &mut no_stats[..], &mut no_stats_hi[..]),
        };
        let stats = sp.is_some();
        let lower = Negatives {
            z: z_lo,
            q: q_lo,
            g: g_lo,
            l: l_lo,
            sn: sn_lo,
        };
        if stats {
            self.negatives::<true>(lower, wn);
        } else {
            self.negatives::<false>(lower, wn);
        }
        if !fg {
            return;
        }
        // Column y, then the negatives after it.
        let w = base * self.alpha_pos * self.pos[y];
        let (lv, gv, qv) = self.positive(z_hi[0], w);
        l_hi[0] = lv;
        g_hi[0] = gv;
        if let Some(sp) = sp {
            sp[y] = sp[y] + qv * w;
        }
        let upper = Negatives {
            z: &z_hi[1..],
            q: &q_hi[1..],
            g: &mut g_hi[1..],
            l: &mut l_hi[1..],
            sn: if stats { &mut sn_hi[1..] } else { sn_hi },
        };
        if stats {
            self.negatives::<true>(upper, wn);
        } else {
            self.negatives::<false>(upper, wn);
        }
    }

    /// Negative elements (t = 0, q = σ): `ℓ = w σ^γ softplus(z)`,
    /// `∂ℓ/∂z = w σ^γ (γ σ(−z)·softplus(z) + σ)`. Statistics: `|σ − 0|·w`.
    #[inline(always)]
    fn negatives<const STATS: bool>(&self, neg: Negatives<'_, T>, wn: T) {
        match self.gamma {
            Gamma::Zero => {
                let gf = self.gf;
                let Negatives { z, q, g, l, sn } = neg;
                for j in 0..z.len() {
                    let (log1p_e, s, _) = logistic(z[j]);
                    let w = wn * q[j];
                    l[j] = w * (z[j].max(T::ZERO) + log1p_e);
                    g[j] = w * s * gf;
                    if STATS {
                        sn[j] = sn[j] + s * w;
                    }
                }
            }
            // Small integer exponents get their own loops (plain products), so that the loop
            // vectorises; `powi` with a run-time exponent is a libcall per element.
            Gamma::Int(1) => self.focal_negatives::<STATS, _>(neg, wn, |v| v),
            Gamma::Int(2) => self.focal_negatives::<STATS, _>(neg, wn, |v| v * v),
            Gamma::Int(3) => self.focal_negatives::<STATS, _>(neg, wn, |v| v * v * v),
            Gamma::Int(4) => self.focal_negatives::<STATS, _>(neg, wn, |v| {
                let v2 = v * v;
                v2 * v2
            }),
            gamma => self.focal_negatives::<STATS, _>(neg, wn, |v| gamma.pow(v)),
        }
    }

    /// [`Self::negatives`] with a focal modulator `pow(q) = q^γ`.
    #[inline(always)]
    fn focal_negatives<const STATS: bool, P: Fn(T) -> T>(
        &self,
        neg: Negatives<'_, T>,
        wn: T,
        pow: P,
    ) {
        let (gf, gv) = (self.gf, self.gamma.value());
        let Negatives { z, q, g, l, sn } = neg;
        for j in 0..z.len() {
            let (log1p_e, s, s_neg) = logistic(z[j]);
            let b = z[j].max(T::ZERO) + log1p_e;
            let w = wn * q[j];
            let m = pow(s);
            l[j] = w * m * b;
            g[j] = w * m * (gv * s_neg * b + s) * gf;
            if STATS {
                sn[j] = sn[j] + s * w;
            }
        }
    }

    /// The positive element (t = 1, q = 1 − σ = σ(−z)): `ℓ = w q^γ softplus(−z)`,
    /// `∂ℓ/∂z = −w q^γ (γσ·softplus(−z) + q)`. Returns (loss, scaled grad, |σ − 1|).
    #[inline(always)]
    fn positive(&self, z: T, w: T) -> (T, T, T) {
        let (log1p_e, s, q) = logistic(z);
        let b = (-z).max(T::ZERO) + log1p_e;
        let m = self.gamma.pow(q);
        let gv = self.gamma.value();
        (w * m * b, -(w * m * (gv * s * b + q)) * self.gf, q)
    }

    /// A row with a dense target, the general formula, written so that no term cancels for
    /// `t ∈ {0, 1}`: `BCE = log(1 + e^{−|z|}) + (z ≥ 0 ? z(1 − t) : −z t)`,
    /// `q = σ(z)(1 − t) + σ(−z) t` and `σ − t = σ(z)(1 − t) − σ(−z) t`.
    #[inline(always)]
    fn row_dense(&self, z: &[T], t: &[T], sw: T, out: RowOut<'_, T>) {
        let RowOut { g, l, mut st } = out;
        let gv = self.gamma.value();
        let (ap, an) = (self.alpha_pos, self.alpha_neg);
        for j in 0..z.len() {
            let (zj, tj) = (z[j], t[j]);
            let (log1p_e, s, s_neg) = logistic(zj);
            let ti = T::ONE - tj;
            let b = log1p_e + if zj >= T::ZERO { zj * ti } else { -(zj * tj) };
            let d = s * ti - s_neg * tj;
            let w = sw * (ap * tj + an * ti) * (self.pos[j] * tj + self.neg[j] * ti);
            let (lv, dv) = match self.gamma {
                Gamma::Zero => (b, d),
                gamma => {
                    let q = s * ti + s_neg * tj;
                    let m = gamma.pow(q);
                    let dq = s * s_neg * (ti - tj);
                    // γ q^{γ−1} dq, whose limit at q = 0 is 0 (σ(1−σ) vanishes at least as fast).
                    let dm = if q > T::ZERO {
                        gv * m / q * dq
                    } else {
                        T::ZERO
                    };
                    (m * b, dm * b + m * d)
                }
            };
            l[j] = w * lv;
            g[j] = w * dv * self.gf;
            if let Some(st) = st.as_deref_mut() {
                let a = d.abs() * w;
                st[j] = st[j] + a * tj;
                st[self.c + j] = st[self.c + j] + a * ti;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bce(z: f64, t: f64) -> f64 {
        z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()
    }
    fn sig(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    /// Focal loss with α, labels with a background row, "mean" over elements.
    #[test]
    fn focal_labels_match_formula() {
        let z = [0.3, -1.2, 2.0, 0.5, 0.0, -3.0];
        let labels = [1i64, 2]; // C = 3 columns ... row 1 is background? no: label 2 < 3
        let p = SigmoidLossParams {
            gamma: 2.0,
            alpha: Some(0.25),
            ..SigmoidLossParams::bce()
        };
        let mut loss = [0.0];
        let mut grad = [0.0; 6];
        let t = SigmoidTarget::Labels {
            labels: &labels,
            num_labels: 4,
            ignore_index: -100,
        };
        sigmoid_loss(&z, t, 3, &p, &mut loss, &mut grad, None).unwrap();
        let mut want = 0.0;
        for i in 0..2 {
            for j in 0..3 {
                let zz: f64 = z[i * 3 + j];
                let tt = if labels[i] as usize == j { 1.0 } else { 0.0 };
                let s = sig(zz);
                let q = s * (1.0 - tt) + (1.0 - s) * tt;
                let a = 0.25 * tt + 0.75 * (1.0 - tt);
                want += a * q * q * bce(zz, tt);
                // d/dz: finite differences of the element loss.
                let h = 1e-6;
                let f = |x: f64| {
                    let s = sig(x);
                    let q = s * (1.0 - tt) + (1.0 - s) * tt;
                    a * q * q * bce(x, tt)
                };
                let fd = (f(zz + h) - f(zz - h)) / (2.0 * h) / 6.0;
                assert!(
                    (grad[i * 3 + j] - fd).abs() < 1e-8,
                    "grad {i},{j}: {} vs {fd}",
                    grad[i * 3 + j]
                );
            }
        }
        assert!((loss[0] - want / 6.0).abs() < 1e-12);
    }

    #[test]
    fn background_ignore_stats_and_errors() {
        let z = [0.3f64, -1.2, 2.0, 0.5, f64::NAN, -3.0];
        let p = SigmoidLossParams {
            reduction: Reduction::Sum,
            ..SigmoidLossParams::bce()
        };
        let mut loss = [0.0];
        let mut grad = [0.0; 6];
        // Row 1 holds a NaN, but it is ignored: no error and no contribution.
        let t = SigmoidTarget::Labels {
            labels: &[3, -100],
            num_labels: 4,
            ignore_index: -100,
        };
        let mut st = [0.0; 6];
        sigmoid_loss(&z, t, 3, &p, &mut loss, &mut grad, Some(&mut st)).unwrap();
        let want: f64 = z[..3].iter().map(|&v| bce(v, 0.0)).sum();
        assert!((loss[0] - want).abs() < 1e-12);
        assert_eq!(&grad[3..], &[0.0; 3]);
        for j in 0..3 {
            assert_eq!(st[j], 0.0);
            assert!((st[3 + j] - sig(z[j])).abs() < 1e-15);
        }
        let t = SigmoidTarget::Labels {
            labels: &[3, 1],
            num_labels: 4,
            ignore_index: -100,
        };
        let err = sigmoid_loss(&z, t, 3, &p, &mut loss, &mut grad, None).unwrap_err();
        assert!(matches!(err, CoreError::InvalidArgument(ref m) if m.contains("NaN")));
        let t = SigmoidTarget::Labels {
            labels: &[4, 1],
            num_labels: 4,
            ignore_index: -100,
        };
        let err = sigmoid_loss(&z, t, 3, &p, &mut loss, &mut grad, None).unwrap_err();
        assert!(matches!(err, CoreError::OutOfRange(_)));
    }

    #[test]
    fn dense_matches_labels_for_one_hot() {
        let z: Vec<f32> = (0..40)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) * 0.7)
            .collect();
        let labels: Vec<i64> = (0..8).map(|k| (k * 3 % 6) as i64).collect();
        let mut t = vec![0.0f32; 40];
        for (i, &y) in labels.iter().enumerate() {
            if y < 5 {
                t[i * 5 + y as usize] = 1.0;
            }
        }
        let p = SigmoidLossParams {
            gamma: 1.5f32,
            alpha: Some(0.3),
            reduction: Reduction::None,
            ..SigmoidLossParams::bce()
        };
        let (mut l1, mut g1, mut l2, mut g2) =
            (vec![0.0; 40], vec![0.0; 40], vec![0.0; 40], vec![0.0; 40]);
        let tl = SigmoidTarget::Labels {
            labels: &labels,
            num_labels: 6,
            ignore_index: -100,
        };
        sigmoid_loss(&z, tl, 5, &p, &mut l1, &mut g1, None).unwrap();
        sigmoid_loss(&z, SigmoidTarget::Dense(&t), 5, &p, &mut l2, &mut g2, None).unwrap();
        for k in 0..40 {
            assert!(
                (l1[k] - l2[k]).abs() <= 1e-6 * l1[k].abs().max(1.0),
                "loss {k}"
            );
            assert!(
                (g1[k] - g2[k]).abs() <= 1e-6 * g1[k].abs().max(1.0),
                "grad {k}"
            );
        }
    }
}

#[cfg(test)]
mod precision_tests {
    use super::*;

    /// σ(z) written without `1 − σ`, so that it is exact to f64 rounding for both signs.
    fn sigmoid(z: f64) -> f64 {
        if z >= 0.0 {
            1.0 / (1.0 + (-z).exp())
        } else {
            z.exp() / (1.0 + z.exp())
        }
    }

    fn softplus(z: f64) -> f64 {
        z.max(0.0) + (-z.abs()).exp().ln_1p()
    }

    /// f64 focal BCE of one element with target t ∈ {0, 1}: (loss, d loss / dz).
    fn reference(z: f64, t: f64, gamma: f64, alpha: f64) -> (f64, f64) {
        let (s, s_neg) = (sigmoid(z), sigmoid(-z));
        let a = if t == 1.0 { alpha } else { 1.0 - alpha };
        let (q, bce, dq, dbce) = if t == 1.0 {
            (s_neg, softplus(-z), -s * s_neg, -s_neg)
        } else {
            (s, softplus(z), s * s_neg, s)
        };
        let loss = a * q.powf(gamma) * bce;
        let dm = if gamma == 0.0 {
            0.0
        } else {
            gamma * q.powf(gamma - 1.0) * dq
        };
        (loss, a * (dm * bce + q.powf(gamma) * dbce))
    }

    /// Relative error, with an absolute floor of a few denormal steps where the exact value
    /// is itself below f32's normal range (γ = 2 at z = 30: the loss is 8e-40).
    fn close(got: f32, want: f64) -> bool {
        let err = (f64::from(got) - want).abs();
        err <= 1e-5 * want.abs() || err <= 1e-44
    }

    /// f32 easy positives (t = 1, z ≥ 4) used to lose up to 8.6e-4 of relative precision, and
    /// the loss at z = 16 was 0 (exact 1.1e-7), from `softplus(z) − z` and `1 − σ`.
    #[test]
    fn f32_loss_and_gradient_within_1e_5_of_f64_on_minus_30_to_30() {
        let xs: Vec<f32> = (0..=6000).map(|k| -30.0 + k as f32 * 0.01).collect();
        let n = xs.len();
        for gamma in [0.0f32, 1.0, 2.0, 1.5] {
            let p = SigmoidLossParams {
                gamma,
                alpha: Some(0.25),
                reduction: Reduction::None,
                ..SigmoidLossParams::bce()
            };
            for t in [0.0f32, 1.0] {
                // The same elements as labels (one column; label 1 is the background) and as
                // a dense target.
                let labels = vec![if t == 1.0 { 0i64 } else { 1 }; n];
                let dense = vec![t; n];
                let targets = [
                    SigmoidTarget::Labels {
                        labels: &labels,
                        num_labels: 2,
                        ignore_index: -100,
                    },
                    SigmoidTarget::Dense(&dense),
                ];
                for target in targets {
                    let (mut loss, mut grad) = (vec![0.0f32; n], vec![0.0f32; n]);
                    sigmoid_loss(&xs, target, 1, &p, &mut loss, &mut grad, None).unwrap();
                    for k in 0..n {
                        let z = f64::from(xs[k]);
                        let (l, g) = reference(z, f64::from(t), f64::from(gamma), 0.25);
                        assert!(
                            close(loss[k], l),
                            "loss: γ={gamma} t={t} z={z} got={} want={l}",
                            loss[k]
                        );
                        assert!(
                            close(grad[k], g),
                            "grad: γ={gamma} t={t} z={z} got={} want={g}",
                            grad[k]
                        );
                    }
                }
            }
        }
    }
}
