//! The vector building blocks of the kernels: row reductions in 8 independent lanes (so that
//! LLVM vectorises them without `-ffast-math`), branch-free f32 `exp` / `log` / `log1p` that
//! vectorise on baseline SSE2 and on AVX2, and the denormal flush.
//!
//! The f32 approximations are the Cephes `expf` / `logf` polynomials (S. L. Moshier, Cephes
//! Math Library, `cephes/single/expf.c` and `logf.c`), rewritten without branches: range
//! reduction by the `1.5·2^23` rounding trick and by the float's exponent bits, special values
//! by selects.

use super::Real;

/// Maximum of a row, in 8 independent lanes so that it vectorises. NaN is skipped here (every
/// comparison with it is false); callers let it reach the loss through `exp(NaN − max)`.
#[inline(always)]
pub fn max_lanes<T: Real>(x: &[T]) -> T {
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
    m
}

/// Sum of a row in 8 independent lanes (vectorises); NaN and ±inf propagate.
#[inline(always)]
pub fn sum_lanes<T: Real>(x: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let mut chunks = x.chunks_exact(8);
    for ch in &mut chunks {
        for k in 0..8 {
            lanes[k] = lanes[k] + ch[k];
        }
    }
    let s = chunks.remainder().iter().fold(T::ZERO, |acc, &v| acc + v);
    lanes.iter().fold(s, |acc, &v| acc + v)
}

/// Writes `u_j = s·z_j + b_j` (or `s·z_j` without offsets) into `u` and returns `max_j u_j`,
/// in 8 lanes. `u` and `z` have the same length, and so has `b` when given.
#[inline(always)]
pub fn affine_max<T: Real>(u: &mut [T], z: &[T], s: T, b: Option<&[T]>) -> T {
    let mut lanes = [T::NEG_INFINITY; 8];
    let mut m = T::NEG_INFINITY;
    match b {
        Some(b) => {
            let mut uc = u.chunks_exact_mut(8);
            let mut zc = z.chunks_exact(8);
            let mut bc = b.chunks_exact(8);
            for ((uu, zz), bb) in (&mut uc).zip(&mut zc).zip(&mut bc) {
                for k in 0..8 {
                    let v = s * zz[k] + bb[k];
                    uu[k] = v;
                    lanes[k] = if v > lanes[k] { v } else { lanes[k] };
                }
            }
            for ((uu, &zz), &bb) in uc
                .into_remainder()
                .iter_mut()
                .zip(zc.remainder())
                .zip(bc.remainder())
            {
                let v = s * zz + bb;
                *uu = v;
                m = if v > m { v } else { m };
            }
        }
        None => {
            let mut uc = u.chunks_exact_mut(8);
            let mut zc = z.chunks_exact(8);
            for (uu, zz) in (&mut uc).zip(&mut zc) {
                for k in 0..8 {
                    let v = s * zz[k];
                    uu[k] = v;
                    lanes[k] = if v > lanes[k] { v } else { lanes[k] };
                }
            }
            for (uu, &zz) in uc.into_remainder().iter_mut().zip(zc.remainder()) {
                let v = s * zz;
                *uu = v;
                m = if v > m { v } else { m };
            }
        }
    }
    lanes
        .iter()
        .fold(m, |acc, &v| if v > acc { v } else { acc })
}

/// Replaces `x_j` by `exp(x_j − mx)` and returns their sum, in 8 lanes.
#[inline(always)]
pub fn exp_shift_sum<T: Real>(x: &mut [T], mx: T) -> T {
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

/// The bits of `1.5·2^23`: adding it to a float of magnitude below `2^22` rounds that float to
/// an integer n and leaves `0x4B40_0000 + n` in the sum's bits.
const ROUND_BITS: u32 = 0x4B40_0000;
const ROUND: f32 = 12_582_912.0;
/// `log 2` split so that `n·LN2_HI` is exact for |n| ≤ 2^9 (Cephes `C1`, `C2`).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `2^k` for an integer `k ∈ [-126, 127]`, from the exponent bits.
#[inline(always)]
fn pow2i(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32).wrapping_shl(23))
}

/// Branch-free `exp` for f32 over its whole range: within 2 ulp of a correctly rounded `expf`
/// where the result is normal, within one ulp of the least denormal (2^-149) where it is
/// denormal; `exp(x) = +inf` for `x > 88.7228`, 0 for `x < -103.97` and for `-inf`; NaN
/// propagates.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Past either bound the result is already +inf or 0 (NaN passes through the clamp).
    let xc = x.clamp(-104.0, 89.0);
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t.to_bits().wrapping_sub(ROUND_BITS) as i32;
    let nf = t - ROUND;
    let r = xc - nf * LN2_HI - nf * LN2_LO;
    let r2 = r * r;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r2 + r + 1.0;
    // n ∈ [-150, 128]: two factors keep each power of 2 a normal float; the first product is
    // exact, the second rounds once (to a denormal, or to +inf past f32::MAX).
    let n1 = n >> 1;
    y * pow2i(n1) * pow2i(n.wrapping_sub(n1))
}

/// `log(1 + r) − r` for `r ∈ [√½ − 1, √2 − 1]` (Cephes `logf`'s polynomial); callers add the
/// small terms to this tail before the large ones, as Cephes does.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published Cephes coefficients
fn ln_1p_tail(r: f32) -> f32 {
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
    y - 0.5 * r2
}

/// Branch-free `log(1 + x)` for `x ∈ [0, 1]` (the range of `exp(−|z|)`), within 2 ulp,
/// denormal `x` included (`log1p(x) = x` there); NaN propagates. `u = 1 + x` is brought into
/// `[√½, √2)` as `m·2^k`, and `log(u)·x/(u − 1)` restores the rounding of `1 + x` (Goldberg's
/// `log1p`, "What every computer scientist should know about floating-point arithmetic", 1991).
#[inline(always)]
pub fn ln_1p_unit_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    let big = u > std::f32::consts::SQRT_2;
    let m = if big { 0.5 * u } else { u };
    let k = if big { 1.0f32 } else { 0.0 };
    let r = m - 1.0;
    let log_u = (r + (ln_1p_tail(r) + k * LN2_LO)) + k * LN2_HI;
    let d = u - 1.0;
    if d == 0.0 {
        x
    } else {
        log_u * (x / d)
    }
}

/// Branch-free natural `log` for f32 over its whole range: within 2 ulp for positive `x`,
/// denormals included; `log(±0) = −inf`, `log(+inf) = +inf`, NaN for `x < 0` and for NaN.
/// `x = m·2^e` with `m ∈ [√½, √2)` from the bits (denormals scaled by 2^23 first), then
/// `log(m) + e·log 2`.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x };
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - if tiny { 150 } else { 127 };
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    m = if big { 0.5 * m } else { m };
    e += i32::from(big);
    let ef = e as f32;
    let r = m - 1.0;
    let out = (r + (ln_1p_tail(r) + ef * LN2_LO)) + ef * LN2_HI;
    let out = if x == f32::INFINITY { x } else { out };
    let out = if x == 0.0 { f32::NEG_INFINITY } else { out };
    // x < 0 or NaN: the comparison is false for both.
    if x >= 0.0 {
        out
    } else {
        f32::NAN
    }
}

/// Sets flush-to-zero and denormals-are-zero for the current thread until dropped. Scaled
/// logits (LDAM's s = 30) make many softmax terms smaller than f32's least normal (1.2e-38);
/// computing those as denormals costs ~100 cycles each on x86, for no visible effect on a loss
/// that is a sum of such terms with at least one term equal to 1.
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    #[allow(deprecated)] // the MXCSR intrinsics are deprecated but remain the way to do this
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            // SAFETY: reading and writing MXCSR only changes this thread's float flags, and
            // `drop` restores them.
            unsafe {
                let saved = _mm_getcsr();
                _mm_setcsr(saved | 0x8040);
                FlushDenormals { saved }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

impl Default for FlushDenormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushDenormals {
    #[allow(deprecated)]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the flags saved in `new`.
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place, counting denormals as steps like any other float.
    fn ulps(a: f32, b: f32) -> u64 {
        let key = |v: f32| {
            let i = v.to_bits() as i32;
            // Map the bit patterns onto a monotone integer line (negative floats mirrored).
            if i < 0 {
                -(i64::from(i & 0x7fff_ffff))
            } else {
                i64::from(i)
            }
        };
        key(a).abs_diff(key(b))
    }

    /// `x·factor`, or the next float up where that product rounds back to `x` (denormals).
    fn step_up(x: f32, factor: f32) -> f32 {
        (x * factor).max(f32::from_bits(x.to_bits() + 1))
    }

    /// Every `step`-th f32 bit pattern from `lo` to `hi` (as floats), plus both ends.
    fn grid(lo: f32, hi: f32, count: u32) -> Vec<f32> {
        let (a, b) = (f64::from(lo), f64::from(hi));
        let mut v: Vec<f32> = (0..=count)
            .map(|i| (a + (b - a) * f64::from(i) / f64::from(count)) as f32)
            .collect();
        v.push(hi);
        v
    }

    #[test]
    fn exp_f32_within_2_ulp_of_std_over_the_whole_range() {
        for x in grid(-87.3, 88.72, 400_000) {
            let (got, want) = (exp_f32(x), x.exp());
            assert!(ulps(got, want) <= 2, "x={x:e} got={got:e} want={want:e}");
        }
        // Denormal results: within one step of the least denormal.
        for x in grid(-103.97, -87.34, 50_000) {
            let (got, want) = (exp_f32(x), x.exp());
            assert!(
                (f64::from(got) - f64::from(want)).abs() <= 1.5 * 2f64.powi(-149)
                    || ulps(got, want) <= 2,
                "x={x:e} got={got:e} want={want:e}"
            );
        }
        for x in [88.73f32, 89.0, 100.0, f32::MAX, f32::INFINITY] {
            assert_eq!(exp_f32(x), f32::INFINITY, "x={x}");
        }
        for x in [-104.0f32, -200.0, -f32::MAX, f32::NEG_INFINITY] {
            assert_eq!(exp_f32(x), 0.0, "x={x}");
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-f32::NAN).is_nan());
        // A denormal argument is exp(≈0) = 1.
        assert_eq!(exp_f32(1e-40), 1.0);
    }

    #[test]
    fn ln_f32_within_2_ulp_of_std_over_the_whole_range() {
        // Geometric sweep over every binade, denormals included, plus the neighbourhood of 1
        // where a naive `log(m) + e·log 2` loses its relative precision.
        let mut x = f32::from_bits(1); // the least denormal
        while x < f32::MAX / 1.001 {
            let (got, want) = (ln_f32(x), x.ln());
            assert!(ulps(got, want) <= 2, "x={x:e} got={got:e} want={want:e}");
            x = step_up(x, 1.001);
        }
        for x in grid(0.5, 2.0, 200_000) {
            let (got, want) = (ln_f32(x), x.ln());
            assert!(ulps(got, want) <= 2, "x={x:e} got={got:e} want={want:e}");
        }
        assert_eq!(ln_f32(1.0), 0.0);
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(-0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_f32(f32::NEG_INFINITY).is_nan());
        assert!(ln_f32(-1.0).is_nan());
        assert!(ln_f32(-1e-40).is_nan());
        assert!(ln_f32(f32::NAN).is_nan());
    }

    #[test]
    fn ln_1p_unit_f32_within_2_ulp_of_std_on_its_domain() {
        for x in grid(0.0, 1.0, 400_000) {
            let (got, want) = (ln_1p_unit_f32(x), x.ln_1p());
            assert!(ulps(got, want) <= 2, "x={x:e} got={got:e} want={want:e}");
        }
        // Small arguments, where 1 + x rounds: the relative precision must survive.
        let mut x = f32::from_bits(1);
        while x < 1e-2 {
            let (got, want) = (ln_1p_unit_f32(x), x.ln_1p());
            assert!(ulps(got, want) <= 2, "x={x:e} got={got:e} want={want:e}");
            x = step_up(x, 1.01);
        }
        assert_eq!(ln_1p_unit_f32(0.0), 0.0);
        assert!(ln_1p_unit_f32(f32::NAN).is_nan());
    }

    #[test]
    fn lane_reductions_match_sequential_ones() {
        for len in [0usize, 1, 7, 8, 9, 16, 31, 100] {
            let x: Vec<f64> = (0..len)
                .map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.5)
                .collect();
            let want_max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(max_lanes(&x), want_max, "len={len}");
            let want_sum: f64 = x.iter().sum();
            assert!((sum_lanes(&x) - want_sum).abs() < 1e-12, "len={len}");
            let b: Vec<f64> = (0..len).map(|i| i as f64 * 0.1).collect();
            let mut u = vec![0.0; len];
            let m = affine_max(&mut u, &x, 2.0, Some(&b));
            for j in 0..len {
                assert_eq!(u[j], 2.0 * x[j] + b[j]);
            }
            assert_eq!(m, u.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            let mut e = x.clone();
            let s = exp_shift_sum(&mut e, want_max);
            for j in 0..len {
                assert!((e[j] - (x[j] - want_max).exp()).abs() < 1e-15);
            }
            assert!((s - e.iter().sum::<f64>()).abs() < 1e-12);
        }
        // NaN: skipped by the maximum, carried by the sum.
        let x = [1.0f32, f32::NAN, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0];
        assert_eq!(max_lanes(&x), 3.0);
        assert!(sum_lanes(&x).is_nan());
        let mut e = x;
        assert!(exp_shift_sum(&mut e, 3.0).is_nan());
    }

    #[test]
    fn flush_denormals_is_scoped() {
        let tiny = std::hint::black_box(1e-39f32);
        {
            let _flush = FlushDenormals::new();
            let half = std::hint::black_box(tiny) * std::hint::black_box(0.5f32);
            if cfg!(target_arch = "x86_64") {
                assert_eq!(half, 0.0);
            }
        }
        let half = std::hint::black_box(tiny) * std::hint::black_box(0.5f32);
        assert!(half > 0.0);
    }
}
