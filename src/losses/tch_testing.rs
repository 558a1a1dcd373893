//! Shared pieces of the tests of the `_tch` formulations: each runs a loss on CPU
//! `tch::Tensor`s and compares loss and gradient with the CPU kernel of its family on the same
//! data, in float32 and float64.

use tch::kind::Element;
use tch::{Kind, Tensor};

use super::Real;

/// The float types both formulations take.
pub(crate) trait Float: Real + Element {
    /// The relative tolerance between the two formulations: the CPU kernel's float32 `exp` and
    /// `log` are its own approximations (a few ulps), and the two sum in different orders.
    const RTOL: f64;
}

impl Float for f32 {
    const RTOL: f64 = 2e-5;
}

impl Float for f64 {
    const RTOL: f64 = 1e-11;
}

/// Deterministic values in `[lo, hi)` (splitmix64), so that no test needs a random crate.
pub(crate) fn uniform(len: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// Labels in `[0, num)`, deterministic.
pub(crate) fn labels(len: usize, seed: u64, num: usize) -> Vec<i64> {
    uniform(len, seed, 0.0, num as f64)
        .into_iter()
        .map(|v| (v as i64).min(num as i64 - 1))
        .collect()
}

/// `len` zeros (`T::ZERO` is ambiguous between `Real` and `Element`).
pub(crate) fn zeros<T: Real>(len: usize) -> Vec<T> {
    vec![<T as Real>::ZERO; len]
}

pub(crate) fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// A CPU tensor of `T` with the given shape.
pub(crate) fn tensor<T: Element>(data: &[T], shape: &[i64]) -> Tensor {
    Tensor::from_slice(data).reshape(shape)
}

/// An int64 CPU tensor with the given shape.
pub(crate) fn long(data: &[i64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(data).reshape(shape)
}

/// Every element of a tensor, in memory order of its contiguous form, as f64.
pub(crate) fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).reshape([-1])).expect("a numeric tensor")
}

pub(crate) fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `got` equals `want` element by element within `rtol·max(1, |want|)`; NaN only where `want`
/// is NaN, and infinities equal.
#[track_caller]
pub(crate) fn assert_close(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= rtol * w.abs().max(1.0)
        };
        assert!(ok, "{what}[{k}]: tch {g} vs cpu {w} (rtol {rtol})");
    }
}

/// The tch result's dtype is the input's, and its shape is the one given.
#[track_caller]
pub(crate) fn assert_kind_shape<T: Element>(t: &Tensor, shape: &[i64], what: &str) {
    assert_eq!(t.kind(), T::KIND, "{what}: dtype");
    assert_eq!(t.size(), shape, "{what}: shape");
}
