//! The one float trait the kernels are generic over (f32 and f64). The `*_bulk` methods are the
//! forms used inside row loops: for f32 they are the branch-free approximations of
//! [`super::lanes`], which LLVM vectorises; for f64 they are `std`'s.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::lanes::{exp_f32, ln_1p_unit_f32, ln_f32};

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
    /// `exp` for bulk use inside row loops.
    fn exp_bulk(self) -> Self;
    /// `log(1 + x)` for `x ∈ [0, 1]`, for bulk use inside row loops.
    fn ln_1p_bulk(self) -> Self;
    /// `log(x)` for `x ≥ 0`, for bulk use inside row loops.
    fn ln_bulk(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn exp_m1(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn abs(self) -> Self;
    /// The larger of the two, ignoring a NaN `other` (a NaN `self` gives `other`), as
    /// `f32::max` does.
    fn max(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
}

/// Implements [`Real`] for a primitive float, with its own bulk forms.
macro_rules! impl_real {
    ($t:ident, exp_bulk = $exp:path, ln_1p_bulk = $ln1p:path, ln_bulk = $ln:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation)] // f64 → f32 rounds, as intended
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline(always)]
            fn exp_bulk(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln_1p_bulk(self) -> Self {
                $ln1p(self)
            }
            #[inline(always)]
            fn ln_bulk(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
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
                $t::is_nan(self)
            }
        }
    };
}

impl_real!(
    f64,
    exp_bulk = f64::exp,
    ln_1p_bulk = f64::ln_1p,
    ln_bulk = f64::ln
);
impl_real!(
    f32,
    exp_bulk = exp_f32,
    ln_1p_bulk = ln_1p_unit_f32,
    ln_bulk = ln_f32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_forms_agree_with_std() {
        for x in [0.0f32, 1e-30, 1e-7, 0.25, 0.5, 1.0] {
            assert!((x.ln_1p_bulk() - x.ln_1p()).abs() <= 2.0 * f32::EPSILON * x.ln_1p());
            assert!((f64::from(x).ln_1p_bulk() - f64::from(x).ln_1p()).abs() == 0.0);
        }
        for x in [-80.0f32, -1.0, 0.0, 3.5, 80.0] {
            assert!((x.exp_bulk() - x.exp()).abs() <= 2.0 * f32::EPSILON * x.exp());
        }
        for x in [1e-30f32, 0.3, 1.0, 3.5, 80.0] {
            assert!((x.ln_bulk() - x.ln()).abs() <= 2.0 * f32::EPSILON * x.ln().abs());
        }
        assert_eq!(Real::max(f32::NAN, 1.0), 1.0);
        assert_eq!(Real::max(1.0f32, f32::NAN), 1.0);
        assert_eq!(Real::max(-2.0f64, 3.0), 3.0);
        assert_eq!(<f64 as Real>::from_f64(0.1), 0.1);
    }
}
