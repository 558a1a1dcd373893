//! One fused kernel for the sigmoid (binary cross-entropy) family of detection losses: sigmoid
//! focal loss (torchvision / mmdetection), the class-balanced sigmoid and focal losses, EQL and
//! EQLv2 are all this one function with different weights.
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

use super::rows::{inverse_divisor, run_blocks, sum_lanes, BlockWork};
use super::{Real, Reduction};
use crate::error::{CoreError, Result};

/// The float operations the sigmoid kernel needs beyond [`Real`], with a vectorisable `log1p`
/// for f32.
pub trait SigmoidReal: Real {
    fn abs(self) -> Self;
    /// `log(1 + x)` for `x ∈ [0, 1]`, written so that LLVM vectorises it for f32.
    fn ln_1p_bulk(self) -> Self;
    /// `log(x)` for normal `x > 0`, written so that LLVM vectorises it for f32.
    fn ln_bulk(self) -> Self;
    fn powi(self, n: i32) -> Self;
}

impl SigmoidReal for f64 {
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn ln_1p_bulk(self) -> Self {
        f64::ln_1p(self)
    }
    #[inline(always)]
    fn ln_bulk(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
}

impl SigmoidReal for f32 {
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn ln_1p_bulk(self) -> Self {
        ln_1p_unit_f32(self)
    }
    #[inline(always)]
    fn ln_bulk(self) -> Self {
        ln_f32(self)
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        f32::powi(self, n)
    }
}

/// Branch-free `log(1 + x)` for `x ∈ [0, 1]` (Cephes `logf` polynomial on `u = 1 + x`, then the
/// `log(u)·x/(u−1)` correction that restores the relative precision of small `x`).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published Cephes coefficients
pub fn ln_1p_unit_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    // u ∈ [1, 2]: bring it into [√½, √2) as m·2^k with k ∈ {0, 1}.
    let big = u > std::f32::consts::SQRT_2;
    let m = if big { 0.5 * u } else { u };
    let k = if big { 1.0f32 } else { 0.0 };
    let r = m - 1.0;
    let r2 = r * r;
    let mut y = 7.037_683_6e-2_f32;
    y = y * r - 1.151_461_1e-1;
    y = y * r + 1.167_699_9e-1;
    y = y * r - 1.242_014_1e-1;
    y = y * r + 1.424_932_3e-1;
    y = y * r - 1.666_805_8e-1;
    y = y * r + 2.000_071_4e-1;
    y = y * r - 2.499_999_4e-1;
    y = y * r + 3.333_333_1e-1;
    y = y * r * r2;
    y += k * -2.121_944_4e-4;
    y += -0.5 * r2;
    let log_u = r + y + k * 0.693_359_4;
    let d = u - 1.0;
    if d == 0.0 {
        x
    } else {
        log_u * (x / d)
    }
}

/// Branch-free `log(x)` for normal `x > 0`: `x = m·2^e` with `m ∈ [1, 2)` from the bits, then
/// [`ln_1p_unit_f32`] of `m − 1` (exact) plus `e·log 2`.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    ln_1p_unit_f32(m - 1.0) + e as f32 * std::f32::consts::LN_2
}

/// `(softplus(z), σ(z))`, stable for any z, sharing one `exp(−|z|)`.
#[inline(always)]
fn softplus_sigmoid<T: SigmoidReal>(z: T) -> (T, T) {
    let e = (-z.abs()).exp_bulk();
    let sp = z.max(T::ZERO) + e.ln_1p_bulk();
    let r = T::ONE / (T::ONE + e);
    let s = if z >= T::ZERO { r } else { e * r };
    (sp, s)
}

/// The focal exponent, sorted once so that the common cases avoid `powf`.
#[derive(Debug, Clone, Copy)]
enum Gamma<T> {
    Zero,
    Int(i32),
    Real(T),
}

impl<T: SigmoidReal> Gamma<T> {
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

/// Computes the loss into `loss` (length 1, or N·C for `Reduction::None`: one loss per
/// element), the gradient of that output with respect to `input` into `grad`, and, when `stats`
/// is given (length 2·C), the per-class sums `Σ_i |σ−t| t W` (first C) and `Σ_i |σ−t| (1−t) W`
/// (last C). `input` is `(N, C)` row-major. Fails, before producing anything usable, on a label
/// out of range or a NaN logit.
pub fn sigmoid_loss<T: SigmoidReal>(
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
    let blocks = run_blocks(input, grad, out, c, c, BLOCK_ROWS, &work);
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

impl<T: SigmoidReal> BlockWork<T> for SigmoidBlocks<'_, '_, '_, T> {
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
            let st = if want_stats { Some(&mut st[..]) } else { None };
            match target {
                SigmoidTarget::Labels {
                    labels,
                    ignore_index,
                    ..
                } => ctx.row_labels(z, labels[i], ignore_index, sw, g, l, st),
                SigmoidTarget::Dense(t) => ctx.row_dense(z, &t[i * c..(i + 1) * c], sw, g, l, st),
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

impl<T: SigmoidReal> Ctx<'_, '_, T> {
    /// A row with an integer label: every column negative except column `y` when `y < C`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row_labels(
        &self,
        z: &[T],
        y: i64,
        ignore_index: i64,
        sw: T,
        g: &mut [T],
        l: &mut [T],
        st: Option<&mut [T]>,
    ) {
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
        match st {
            Some(st) => {
                let (sp, sn) = st.split_at_mut(c);
                self.negatives::<true>(
                    &z[..split],
                    &q[..split],
                    wn,
                    &mut g[..split],
                    &mut l[..split],
                    &mut sn[..split],
                );
                if fg {
                    let r = y + 1;
                    self.negatives::<true>(
                        &z[r..],
                        &q[r..],
                        wn,
                        &mut g[r..],
                        &mut l[r..],
                        &mut sn[r..],
                    );
                    let w = base * self.alpha_pos * self.pos[y];
                    let (lv, gv, qv) = self.positive(z[y], w);
                    l[y] = lv;
                    g[y] = gv;
                    sp[y] = sp[y] + qv * w;
                }
            }
            None => {
                let mut none: [T; 0] = [];
                self.negatives::<false>(
                    &z[..split],
                    &q[..split],
                    wn,
                    &mut g[..split],
                    &mut l[..split],
                    &mut none,
                );
                if fg {
                    let r = y + 1;
                    self.negatives::<false>(
                        &z[r..],
                        &q[r..],
                        wn,
                        &mut g[r..],
                        &mut l[r..],
                        &mut none,
                    );
                    let w = base * self.alpha_pos * self.pos[y];
                    let (lv, gv, _) = self.positive(z[y], w);
                    l[y] = lv;
                    g[y] = gv;
                }
            }
        }
    }

    /// Negative elements (t = 0, q = σ): `ℓ = w σ^γ softplus(z)`,
    /// `∂ℓ/∂z = w σ^γ (γ(1−σ)·softplus(z) + σ)`. Statistics: `|σ − 0|·w`.
    #[inline(always)]
    fn negatives<const STATS: bool>(
        &self,
        z: &[T],
        q: &[T],
        wn: T,
        g: &mut [T],
        l: &mut [T],
        sn: &mut [T],
    ) {
        let gf = self.gf;
        match self.gamma {
            Gamma::Zero => {
                for j in 0..z.len() {
                    let (b, s) = softplus_sigmoid(z[j]);
                    let w = wn * q[j];
                    l[j] = w * b;
                    g[j] = w * s * gf;
                    if STATS {
                        sn[j] = sn[j] + s * w;
                    }
                }
            }
            // Small integer exponents get their own loops (plain products), so that the loop
            // vectorises; `powi` with a run-time exponent is a libcall per element.
            Gamma::Int(1) => self.focal_negatives::<STATS, _>(z, q, wn, g, l, sn, |v| v),
            Gamma::Int(2) => self.focal_negatives::<STATS, _>(z, q, wn, g, l, sn, |v| v * v),
            Gamma::Int(3) => self.focal_negatives::<STATS, _>(z, q, wn, g, l, sn, |v| v * v * v),
            Gamma::Int(4) => self.focal_negatives::<STATS, _>(z, q, wn, g, l, sn, |v| {
                let v2 = v * v;
                v2 * v2
            }),
            gamma => self.focal_negatives::<STATS, _>(z, q, wn, g, l, sn, |v| gamma.pow(v)),
        }
    }

    /// [`Self::negatives`] with a focal modulator `pow(q) = q^γ`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn focal_negatives<const STATS: bool, P: Fn(T) -> T>(
        &self,
        z: &[T],
        q: &[T],
        wn: T,
        g: &mut [T],
        l: &mut [T],
        sn: &mut [T],
        pow: P,
    ) {
        let (gf, gv) = (self.gf, self.gamma.value());
        for j in 0..z.len() {
            let (b, s) = softplus_sigmoid(z[j]);
            let w = wn * q[j];
            let m = pow(s);
            l[j] = w * m * b;
            g[j] = w * m * (gv * (T::ONE - s) * b + s) * gf;
            if STATS {
                sn[j] = sn[j] + s * w;
            }
        }
    }

    /// The positive element (t = 1, q = 1−σ): `ℓ = w q^γ softplus(−z)`,
    /// `∂ℓ/∂z = −w q^γ (γσ·softplus(−z) + q)`. Returns (loss, scaled grad, |σ − 1|).
    #[inline(always)]
    fn positive(&self, z: T, w: T) -> (T, T, T) {
        let (b, q) = softplus_sigmoid(-z);
        let s = T::ONE - q;
        let m = self.gamma.pow(q);
        let gv = self.gamma.value();
        (w * m * b, -(w * m * (gv * s * b + q)) * self.gf, q)
    }

    /// A row with a dense target, the general formula.
    #[inline(always)]
    fn row_dense(&self, z: &[T], t: &[T], sw: T, g: &mut [T], l: &mut [T], st: Option<&mut [T]>) {
        let gv = self.gamma.value();
        let (ap, an) = (self.alpha_pos, self.alpha_neg);
        let mut st = st;
        for j in 0..z.len() {
            let (zj, tj) = (z[j], t[j]);
            let (sp, s) = softplus_sigmoid(zj);
            let b = sp - zj * tj;
            let w = sw
                * (ap * tj + an * (T::ONE - tj))
                * (self.pos[j] * tj + self.neg[j] * (T::ONE - tj));
            let (lv, dv) = match self.gamma {
                Gamma::Zero => (b, s - tj),
                gamma => {
                    let q = s * (T::ONE - tj) + (T::ONE - s) * tj;
                    let m = gamma.pow(q);
                    let dq = s * (T::ONE - s) * (T::ONE - tj - tj);
                    // γ q^{γ−1} dq, whose limit at q = 0 is 0 (σ(1−σ) vanishes at least as fast).
                    let dm = if q > T::ZERO {
                        gv * m / q * dq
                    } else {
                        T::ZERO
                    };
                    (m * b, dm * b + m * (s - tj))
                }
            };
            l[j] = w * lv;
            g[j] = w * dv * self.gf;
            if let Some(st) = st.as_deref_mut() {
                let a = (s - tj).abs() * w;
                st[j] = st[j] + a * tj;
                st[self.c + j] = st[self.c + j] + a * (T::ONE - tj);
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

    #[test]
    fn ln_f32_matches_libm() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            let (got, want) = (ln_f32(x), x.ln());
            assert!(
                (got - want).abs() <= 4e-7 * want.abs().max(1.0),
                "x={x} got={got} want={want}"
            );
            x *= 1.37;
        }
    }

    #[test]
    fn ln_1p_f32_matches_libm() {
        let mut x = 0.0f32;
        while x <= 1.0 {
            let want = x.ln_1p();
            let got = ln_1p_unit_f32(x);
            assert!(
                (got - want).abs() <= 2e-7 * want.max(1e-30),
                "x={x} got={got} want={want}"
            );
            x += 1.37e-4;
        }
        for x in [0.0f32, 1e-30, 1e-10, 1e-7, 3e-8] {
            let rel = ((ln_1p_unit_f32(x) - x.ln_1p()) / x.ln_1p().max(1e-38)).abs();
            assert!(rel < 1e-6 || x == 0.0, "x={x}");
        }
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
