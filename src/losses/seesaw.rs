//! One fused kernel for Seesaw loss (Wang et al., CVPR 2021; open-mmlab/mmdetection
//! `mmdet/models/losses/seesaw_loss.py`) in its classification and detection forms, and for
//! softmax EQL (Tan et al., CVPR 2020; jiawei-ren/BalancedMetaSoftmax-Classification
//! `loss/EQV1SoftmaxLoss.py`), which is the same "softmax with constant factors on the
//! non-target terms" with a random 0/1 factor.
//!
//! For a row with foreground label y the class term is
//! `ℓ = −log( e^{z_y} / (e^{z_y} + Σ_{j≠y} S_{yj} e^{z_j}) )` with `S_{yj} = M_{yj}·C_{yj}·K_{ij}`:
//! * mitigation `M_{yj} = (N_j/N_y)^p` if `N_j < N_y`, else 1 (counts clamped at 1);
//! * compensation `C_{yj} = (σ_j/max(σ_y, ε))^q` if that ratio exceeds 1, else 1, with
//!   `σ = softmax(z)` of the unadjusted logits;
//! * an optional per-element factor `K` (softmax EQL's `1 − β·T_λ(f_j)`).
//!
//! The factors are constants for autograd, as the official code's `.detach()` makes them, so
//! `∂ℓ/∂z_j = softmax(z + log S ⊙ (1−onehot))_j − [j = y]` — not the finite-difference
//! gradient when q > 0. With `M_{yj} = min(P_j, P_y)/P_y` for `P = N^p` and
//! `C_{yj} = max(1, e_j/(s·σ̂_y))^q` in terms of `e_j = exp(z_j − max z)` and `s = Σ e`, a row
//! costs one `exp` per element.

use super::blocks::{run_blocks, BlockPlan, BlockWork};
use super::lanes::{exp_shift_sum, max_lanes, sum_lanes};
use super::{inverse_divisor, Real, Reduction};
use crate::error::{CoreError, Result};

/// Which head layout the logits follow; C is the number of (foreground) classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeesawForm {
    /// C logits, labels in `[0, C)`.
    Classification,
    /// C+1 logits, labels in `[0, C]` with C the background, a class of the softmax. The
    /// factors act between foreground classes only: a background row, and the background
    /// column of a foreground row, get factor 1.
    Background,
    /// mmdetection's layout: C class logits then 2 objectness logits, labels in `[0, C]`. The
    /// class term covers foreground rows only; the objectness term is a 2-way cross-entropy
    /// (0 = object, 1 = background) over every row.
    Objectness,
}

impl std::str::FromStr for SeesawForm {
    type Err = CoreError;
    /// The Python name of the layout (`mode=`).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "classification" => Ok(SeesawForm::Classification),
            "background" => Ok(SeesawForm::Background),
            "objectness" => Ok(SeesawForm::Objectness),
            _ => Err(CoreError::invalid(format!(
                "mode should be one of 'classification', 'background', 'objectness', but got mode='{s}'"
            ))),
        }
    }
}

impl SeesawForm {
    /// The number of logit columns for C classes.
    pub fn columns(self, c: usize) -> usize {
        match self {
            SeesawForm::Classification => c,
            SeesawForm::Background => c + 1,
            SeesawForm::Objectness => c + 2,
        }
    }
    /// The number of valid labels for C classes.
    pub fn num_labels(self, c: usize) -> usize {
        match self {
            SeesawForm::Classification => c,
            _ => c + 1,
        }
    }
}

/// The parameters of the Seesaw kernel.
#[derive(Debug, Clone, Copy)]
pub struct SeesawParams<'a, T> {
    /// C, the number of (foreground) classes.
    pub num_classes: usize,
    pub form: SeesawForm,
    /// Cumulative per-class counts `N` (length C), already including this batch.
    pub counts: Option<&'a [T]>,
    /// Mitigation exponent; 0 turns mitigation off.
    pub p: T,
    /// Compensation exponent; 0 turns compensation off.
    pub q: T,
    /// Lower clamp of the true-class score in the compensation ratio.
    pub eps: T,
    /// Per-element factors `K` on the non-target class terms, `(N, C)` row-major.
    pub factors: Option<&'a [T]>,
    /// Per-row weights (mmdetection's `label_weights`).
    pub weight: Option<&'a [T]>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// Overrides the `"mean"` divisor of both terms (mmdetection's `avg_factor`).
    pub avg_factor: Option<f64>,
}

/// Rows per rayon task; fixed by the shape alone, so results do not depend on the number of
/// threads.
const BLOCK_ROWS: usize = 32;
/// Below this many logits the kernel runs on the calling thread: waking the pool's threads
/// costs about 30–40 µs on a 2-core VM, which a split of less work than this (about 80 µs on
/// one thread) does not win back.
const PARALLEL_MIN_ELEMS: usize = 32 * 1024;

/// Computes the Seesaw loss and its gradient. `input` is `(N, K)` with K given by the form.
/// `loss` receives, for `Reduction::None`, one class-term loss per row (and for the objectness
/// form the objectness loss right after it: `(N, 2)`); otherwise `[class term, objectness
/// term]` (the second is 0 outside the objectness form). `grad` is the gradient of the sum of
/// the terms (of each row's terms for `"none"`).
pub fn seesaw_loss<T: Real>(
    input: &[T],
    target: &[i64],
    p: &SeesawParams<'_, T>,
    loss: &mut [T],
    grad: &mut [T],
) -> Result<()> {
    let c = p.num_classes;
    if c == 0 {
        return Err(CoreError::shape(
            "num_classes should be positive, but got num_classes=0",
        ));
    }
    let k = p.form.columns(c);
    let n = target.len();
    if input.len() != n * k || grad.len() != input.len() {
        return Err(CoreError::shape(format!(
            "input should have {k} columns and one row per label ({n}), but got {} elements",
            input.len()
        )));
    }
    let per_row = if p.form == SeesawForm::Objectness {
        2
    } else {
        1
    };
    let want = if p.reduction == Reduction::None {
        n * per_row
    } else {
        2
    };
    if loss.len() != want {
        return Err(CoreError::shape(format!(
            "loss buffer should have {want} elements, but got {}",
            loss.len()
        )));
    }
    super::check_per_class("counts", p.counts, c)?;
    if let Some(f) = p.factors {
        if f.len() != n * c {
            return Err(CoreError::shape(format!(
                "factors should have shape ({n}, {c}), but got {} elements",
                f.len()
            )));
        }
    }
    if let Some(w) = p.weight {
        if w.len() != n {
            return Err(CoreError::shape(format!(
                "weight should have one entry per sample ({n}), but got weight of length {}",
                w.len()
            )));
        }
    }
    let num_labels = p.form.num_labels(c);
    let (mut rows, mut fg_rows) = (0usize, 0usize);
    for (i, &y) in target.iter().enumerate() {
        if y == p.ignore_index {
            continue;
        }
        if y < 0 || y as usize >= num_labels {
            return Err(CoreError::out_of_range(format!(
                "target should contain labels in [0, {num_labels}) or ignore_index={}, but got target={y} at \
                 position {i}",
                p.ignore_index
            )));
        }
        rows += 1;
        fg_rows += usize::from((y as usize) < c);
    }
    let (div_cls, div_obj) = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => (1.0, 1.0),
        (Reduction::Mean, Some(f)) => (f, f),
        (Reduction::Mean, None) if p.form == SeesawForm::Objectness => {
            (fg_rows as f64, rows as f64)
        }
        (Reduction::Mean, None) => (rows as f64, rows as f64),
    };
    // P_j = N_j^p, scaled by the largest so that it cannot overflow.
    let mitigation = p.p.to_f64() > 0.0 && p.counts.is_some();
    let pw: Vec<T> = match (mitigation, p.counts) {
        (true, Some(counts)) => {
            let logs: Vec<f64> = counts.iter().map(|&v| v.to_f64().max(1.0).ln()).collect();
            let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            logs.iter()
                .map(|&l| T::from_f64((p.p.to_f64() * (l - top)).exp()))
                .collect()
        }
        _ => Vec::new(),
    };
    let q = p.q.to_f64();
    let ctx = Ctx {
        p,
        c,
        soft_cols: if p.form == SeesawForm::Background {
            c + 1
        } else {
            c
        },
        pw: &pw,
        q_kind: if q == 0.0 {
            QKind::Off
        } else if q == 2.0 {
            QKind::Two
        } else {
            QKind::Real
        },
        gf_cls: T::from_f64(inverse_divisor(div_cls)),
        gf_obj: T::from_f64(inverse_divisor(div_obj)),
    };
    let none = p.reduction == Reduction::None;
    let out = if none { Some(&mut *loss) } else { None };
    let work = SeesawBlocks {
        ctx: &ctx,
        target,
        per_row,
    };
    let plan = BlockPlan {
        row_elems: k,
        out_per_row: per_row,
        block_rows: BLOCK_ROWS,
        parallel_min_elems: PARALLEL_MIN_ELEMS,
        flush_denormals: false,
    };
    let blocks = run_blocks(input, grad, out, &plan, &work);
    if let Some(i) = blocks.iter().find_map(|b| b.2) {
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    if !none {
        let cls: f64 = blocks.iter().map(|b| b.0).sum();
        let obj: f64 = blocks.iter().map(|b| b.1).sum();
        // mmdetection returns 0 for the class term of a batch without positives.
        loss[0] = T::from_f64(if p.form == SeesawForm::Objectness && fg_rows == 0 {
            0.0
        } else {
            cls / div_cls
        });
        loss[1] = T::from_f64(if p.form == SeesawForm::Objectness {
            obj / div_obj
        } else {
            0.0
        });
    }
    Ok(())
}

/// One block of rows of the Seesaw kernel (see [`BlockWork`]).
struct SeesawBlocks<'a, 'b, T> {
    ctx: &'a Ctx<'a, 'b, T>,
    target: &'a [i64],
    per_row: usize,
}

impl<T: Real> BlockWork<T> for SeesawBlocks<'_, '_, T> {
    type Out = (f64, f64, Option<usize>);

    #[inline(always)]
    fn run(&self, r0: usize, zb: &[T], gb: &mut [T], mut ob: Option<&mut [T]>) -> Self::Out {
        let (ctx, target, per_row) = (self.ctx, self.target, self.per_row);
        let k = ctx.p.form.columns(ctx.c);
        let (mut acc_cls, mut acc_obj, mut nan_row) = (0.0f64, 0.0f64, None);
        for (r, (z, g)) in zb.chunks(k).zip(gb.chunks_mut(k)).enumerate() {
            let i = r0 + r;
            let (lc, lo) = ctx.row(i, z, target[i], g);
            if (lc.is_nan() || lo.is_nan()) && nan_row.is_none() && z.iter().any(|v| v.is_nan()) {
                nan_row = Some(i);
            }
            match ob.as_deref_mut() {
                Some(o) => {
                    o[r * per_row] = lc;
                    if per_row == 2 {
                        o[r * 2 + 1] = lo;
                    }
                }
                None => {
                    acc_cls += lc.to_f64();
                    acc_obj += lo.to_f64();
                }
            }
        }
        (acc_cls, acc_obj, nan_row)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QKind {
    Off,
    Two,
    Real,
}

struct Ctx<'a, 'b, T> {
    p: &'a SeesawParams<'b, T>,
    c: usize,
    /// Columns of the class softmax: C, or C+1 with a background class.
    soft_cols: usize,
    pw: &'a [T],
    q_kind: QKind,
    gf_cls: T,
    gf_obj: T,
}

impl<T: Real> Ctx<'_, '_, T> {
    /// One row: writes the gradient into `g`, returns (class-term loss, objectness loss), both
    /// already multiplied by the row weight.
    #[inline(always)]
    fn row(&self, i: usize, z: &[T], y: i64, g: &mut [T]) -> (T, T) {
        let p = self.p;
        if y == p.ignore_index {
            g.fill(T::ZERO);
            return (T::ZERO, T::ZERO);
        }
        let y = y as usize;
        let w = p.weight.map_or(T::ONE, |w| w[i]);
        let c = self.c;
        let ks = self.soft_cols;
        let mut lo = T::ZERO;
        if p.form == SeesawForm::Objectness {
            // 2-way cross-entropy on the objectness logits: 0 = object, 1 = background.
            let o = usize::from(y == c);
            let (a, b) = (z[c], z[c + 1]);
            let m = if a > b { a } else { b };
            let (ea, eb) = ((a - m).exp(), (b - m).exp());
            let s = ea + eb;
            let f = w * self.gf_obj;
            lo = w * (m + s.ln() - z[c + o]);
            g[c] = f * (ea / s - if o == 0 { T::ONE } else { T::ZERO });
            g[c + 1] = f * (eb / s - if o == 1 { T::ONE } else { T::ZERO });
            if a.is_nan() || b.is_nan() {
                lo = a + b;
            }
            if y == c {
                g[..c].fill(T::ZERO);
                // The class logits of a background row are unused, but a NaN there is still bad
                // input: surface it as a NaN loss so that the caller reports it.
                let lc = if z[..c].iter().any(|v| v.is_nan()) {
                    lo + T::from_f64(f64::NAN)
                } else {
                    T::ZERO
                };
                return (lc, lo);
            }
        }
        let gs = &mut g[..ks];
        let zs = &z[..ks];
        gs.copy_from_slice(zs);
        let mx = max_lanes(gs);
        let s = exp_shift_sum(gs, mx);
        let total = if y < c { self.adjust(i, y, gs, s) } else { s };
        let lc = w * (total.ln() + mx - zs[y]);
        let f = w * self.gf_cls;
        let scale = f / total;
        for gj in gs.iter_mut() {
            *gj = *gj * scale;
        }
        gs[y] = gs[y] - f;
        (lc, lo)
    }

    /// Multiplies the non-target terms `e_j` (j < C, j ≠ y) by `S_{yj}` and returns the new sum.
    #[inline(always)]
    fn adjust(&self, i: usize, y: usize, e: &mut [T], s: T) -> T {
        let p = self.p;
        let c = self.c;
        let mitig = !self.pw.is_empty();
        if !mitig && self.q_kind == QKind::Off && p.factors.is_none() {
            return s;
        }
        let e_y = e[y];
        // 1/(s·max(σ_y, ε)): the compensation ratio is e_j times this.
        let sy = e_y / s;
        let kc = T::ONE / (s * if sy > p.eps { sy } else { p.eps });
        let (py, inv_py) = if mitig {
            (self.pw[y], T::ONE / self.pw[y])
        } else {
            (T::ONE, T::ONE)
        };
        let ec = &mut e[..c];
        if mitig {
            for (ej, &pj) in ec.iter_mut().zip(self.pw) {
                let r = *ej * kc;
                let comp = match self.q_kind {
                    QKind::Off => T::ONE,
                    QKind::Two => {
                        let r = if r > T::ONE { r } else { T::ONE };
                        r * r
                    }
                    QKind::Real => {
                        if r > T::ONE {
                            r.powf(p.q)
                        } else {
                            T::ONE
                        }
                    }
                };
                let m = (if pj < py { pj } else { py }) * inv_py;
                *ej = *ej * m * comp;
            }
        } else if self.q_kind != QKind::Off {
            for ej in ec.iter_mut() {
                let r = *ej * kc;
                let comp = match self.q_kind {
                    QKind::Two => {
                        let r = if r > T::ONE { r } else { T::ONE };
                        r * r
                    }
                    _ => {
                        if r > T::ONE {
                            r.powf(p.q)
                        } else {
                            T::ONE
                        }
                    }
                };
                *ej = *ej * comp;
            }
        }
        if let Some(fac) = p.factors {
            for (ej, &fj) in ec.iter_mut().zip(&fac[i * c..(i + 1) * c]) {
                *ej = *ej * fj;
            }
        }
        e[y] = e_y;
        sum_lanes(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(form: SeesawForm, counts: &[f64], p: f64, q: f64) -> SeesawParams<'_, f64> {
        SeesawParams {
            num_classes: counts.len(),
            form,
            counts: Some(counts),
            p,
            q,
            eps: 1e-2,
            factors: None,
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Sum,
            avg_factor: None,
        }
    }

    /// The direct formula: CE of z + log S on the non-target columns.
    fn direct(z: &[f64], y: usize, counts: &[f64], p: f64, q: f64) -> f64 {
        let c = z.len();
        let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
        let sig: Vec<f64> = z.iter().map(|v| (v - mx).exp() / s).collect();
        let mut u = z.to_vec();
        for j in 0..c {
            if j == y {
                continue;
            }
            let (nj, ny) = (counts[j].max(1.0), counts[y].max(1.0));
            let m = if nj < ny { (nj / ny).powf(p) } else { 1.0 };
            let ratio = sig[j] / sig[y].max(1e-2);
            let comp = if ratio > 1.0 { ratio.powf(q) } else { 1.0 };
            u[j] += (m * comp).ln();
        }
        let mu = u.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        mu + u.iter().map(|v| (v - mu).exp()).sum::<f64>().ln() - u[y]
    }

    #[test]
    fn classification_matches_direct_formula() {
        let counts = [1000.0, 10.0, 0.0, 300.0];
        let z = [2.0, -1.0, 0.5, 3.0, 0.1, 0.2, -4.0, 1.0];
        let y = [1i64, 0];
        for (p, q) in [(0.8, 2.0), (0.0, 2.0), (0.8, 0.0), (1.3, 1.5)] {
            let mut loss = [0.0; 2];
            let mut grad = [0.0; 8];
            seesaw_loss(
                &z,
                &y,
                &params(SeesawForm::Classification, &counts, p, q),
                &mut loss,
                &mut grad,
            )
            .unwrap();
            let want = direct(&z[..4], 1, &counts, p, q) + direct(&z[4..], 0, &counts, p, q);
            assert!(
                (loss[0] - want).abs() < 1e-12,
                "p={p} q={q}: {} vs {want}",
                loss[0]
            );
            assert_eq!(loss[1], 0.0);
            // Each gradient row sums to 0 (softmax minus one-hot).
            assert!(grad[..4].iter().sum::<f64>().abs() < 1e-12);
        }
    }

    #[test]
    fn objectness_form_and_errors() {
        let counts = [5.0, 50.0];
        let z = [0.3, -0.2, 1.0, -1.0, 0.0, 0.0, 0.5, 0.7];
        let mut loss = [0.0; 2];
        let mut grad = [0.0; 8];
        let par = SeesawParams {
            reduction: Reduction::Mean,
            ..params(SeesawForm::Objectness, &counts, 0.8, 2.0)
        };
        seesaw_loss(&z, &[0, 2], &par, &mut loss, &mut grad).unwrap();
        let obj = |a: f64, b: f64, o: usize| {
            let m = a.max(b);
            m + ((a - m).exp() + (b - m).exp()).ln() - if o == 0 { a } else { b }
        };
        // One positive: the class term is divided by 1, the objectness term by 2.
        assert!((loss[0] - direct(&z[..2], 0, &counts, 0.8, 2.0)).abs() < 1e-12);
        assert!((loss[1] - (obj(1.0, -1.0, 0) + obj(0.5, 0.7, 1)) / 2.0).abs() < 1e-12);
        assert_eq!(&grad[4..6], &[0.0, 0.0]);
        let err = seesaw_loss(&z, &[0, 3], &par, &mut loss, &mut grad).unwrap_err();
        assert!(matches!(err, CoreError::OutOfRange(_)));
        let mut zn = z;
        zn[5] = f64::NAN;
        let err = seesaw_loss(&zn, &[0, 1], &par, &mut loss, &mut grad).unwrap_err();
        assert!(matches!(err, CoreError::InvalidArgument(ref m) if m.contains("row 1")));
    }
}
