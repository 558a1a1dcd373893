//! Loss kernels. Each CPU kernel takes plain slices, computes the loss and its gradient with
//! respect to the logits in one pass over the data, and splits rows across rayon.
//!
//! Layout: [`lanes`] holds the vector building blocks (lane reductions, f32 `exp`/`log`, the
//! denormal flush), `blocks` the one row-block driver every kernel runs on, [`real`] the float
//! trait; each family has its CPU kernel (`softmax.rs`, ...) and, with the `torch` feature, the
//! same math as libtorch ops beside it (`softmax_tch.rs`, ...).

pub(crate) mod blocks;
pub mod group_softmax;
#[cfg(feature = "torch")]
pub mod group_softmax_tch;
pub mod lanes;
pub mod real;
pub mod seesaw;
#[cfg(feature = "torch")]
pub mod seesaw_tch;
pub mod sigmoid;
#[cfg(feature = "torch")]
pub mod sigmoid_tch;
pub mod softmax;
#[cfg(feature = "torch")]
pub mod softmax_tch;
#[cfg(all(test, feature = "torch"))]
mod tch_testing;

use std::str::FromStr;

use crate::error::CoreError;
pub use real::Real;

/// The instruction set the kernels run with on this CPU: AVX2+FMA where the CPU has it (each
/// kernel is compiled twice and picks at run time), else the portable baseline.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return "avx2+fma";
    }
    "baseline"
}

/// How per-element losses are combined, with `F.cross_entropy`'s names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl FromStr for Reduction {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            _ => Err(CoreError::invalid(format!(
                "reduction should be one of 'none', 'mean', 'sum', but got reduction='{s}'"
            ))),
        }
    }
}

/// What `reduction="mean"` divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// `Σ_i w_{y_i}` over non-ignored samples, as `F.cross_entropy(weight=w)` does.
    Weight,
    /// The number of non-ignored samples, as TF's `softmax_cross_entropy(weights=)` does.
    Count,
}

impl FromStr for Normalization {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "weight" => Ok(Normalization::Weight),
            "count" => Ok(Normalization::Count),
            _ => Err(CoreError::invalid(format!(
                "normalization should be one of 'weight', 'count', but got normalization='{s}'"
            ))),
        }
    }
}

/// The memory layout of logits `(N, C, D)` with D the product of trailing dimensions; rows are
/// the N·D positions, and classes sit `d` elements apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub n: usize,
    pub c: usize,
    pub d: usize,
}

impl Layout {
    pub fn rows(&self) -> usize {
        self.n * self.d
    }
    pub fn len(&self) -> usize {
        self.n * self.c * self.d
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a tensor lives in host memory. The tch formulations read values back (to report a
/// label out of range, or a NaN row of a stateful loss) only there: on CUDA that read would
/// sync the device with the host on every call. There the caller checks labels with a
/// device-side assert (`torch._assert_async`), as `F.cross_entropy` does, and a NaN logit
/// propagates into the loss.
#[cfg(feature = "torch")]
pub(crate) fn on_host(t: &tch::Tensor) -> bool {
    t.device() == tch::Device::Cpu
}

/// Checks that an optional tensor parameter of a tch formulation has the shape given (`what`
/// names what it has one entry per). The tch formulations check every shape up front, as the
/// CPU kernels check lengths: metadata only, so no device sync, and a mismatch never reaches
/// libtorch, where an op that takes a scalar argument (`where_scalarother`, `clamp_min`, ...)
/// panics on a shape error in tch 0.26 instead of returning it (the argument's drop reads the
/// pending error first).
#[cfg(feature = "torch")]
pub(crate) fn check_tensor_shape(
    name: &str,
    t: Option<&tch::Tensor>,
    want: &[i64],
    what: &str,
) -> crate::Result<()> {
    match t {
        Some(t) if t.size() != want => Err(CoreError::shape(format!(
            "{name} should have shape {want:?} (one entry per {what}), but got {name} of shape {:?}",
            t.size()
        ))),
        _ => Ok(()),
    }
}

/// The divisor of `reduction="mean"` as a multiplier: `1/d`, or 0 when `d = 0` (an empty or
/// all-ignored batch, whose gradient rows are all 0 anyway and whose mean is NaN, as in torch).
pub(crate) fn inverse_divisor(d: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// Checks that an optional per-class parameter has one entry per class.
pub(crate) fn check_per_class<T>(name: &str, values: Option<&[T]>, c: usize) -> crate::Result<()> {
    match values {
        Some(v) if v.len() != c => Err(CoreError::shape(format!(
            "{name} should have one entry per class ({c}), but got {name} of length {}",
            v.len()
        ))),
        _ => Ok(()),
    }
}
