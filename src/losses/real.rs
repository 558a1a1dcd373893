//! The float types the kernels run on (f32 and f64), with a vectorisable `exp` for f32.

use std::ops::{Add, Div, Mul, Neg, Sub};

pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + std::fmt::Debug
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `exp` for bulk use inside row loops; written so that LLVM vectorises it for f32.
    fn exp_bulk(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn exp_m1(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn max(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp_bulk(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    #[inline(always)]
    fn powf(self, e: Self) -> Self {
        f64::powf(self, e)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self >= other || other.is_nan() {
            self
        } else {
            other
        }
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp_bulk(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f32::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn exp_m1(self) -> Self {
        f32::exp_m1(self)
    }
    #[inline(always)]
    fn powf(self, e: Self) -> Self {
        f32::powf(self, e)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self >= other || other.is_nan() {
            self
        } else {
            other
        }
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

/// Branch-free `exp` for f32 (Cephes `expf` polynomial, within 2 ulp of `f32::exp` on its range).
/// Rounding uses the 1.5·2^23 trick so the whole function vectorises on baseline SSE2.
/// Inputs below -87.3 return 0 and -inf returns 0; NaN propagates.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let xc = x.clamp(-87.0, 88.37);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r2 + r + 1.0;
    // SAFETY: n is integral and within [-126, 127] after the clamp.
    let scale = f32::from_bits(((unsafe { n.to_int_unchecked::<i32>() } + 127) as u32) << 23);
    let out = y * scale;
    // Below the clamp the true value is < 1.7e-38: flush to 0 as libm's expf does for -inf.
    let out = if x < -87.0 { 0.0 } else { out };
    if x.is_nan() {
        x
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_matches_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = x.exp();
            let got = exp_f32(x);
            let rel = ((got - want) / want).abs();
            assert!(rel < 3e-7, "x={x} got={got} want={want} rel={rel}");
            x += 0.0137;
        }
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
