//! LVIS repeat-factor sampling (Gupta et al., "LVIS: A Dataset for Large Vocabulary Instance
//! Segmentation", CVPR 2019, arXiv:1908.03195).
//!
//! Repeat factors follow detectron2's `repeat_factors_from_category_frequency`; an epoch
//! repeats image `I` either `floor(r_I) + Bernoulli(frac(r_I))` times (detectron2's stochastic
//! rounding) or `ceil(r_I)` times (mmdetection's `ClassBalancedDataset`), then shuffles.

use std::collections::HashMap;
use std::str::FromStr;

use super::rng::{self, tag, Rng};
use super::stream::{check_epoch_len, collect, EpochStream, MultisetShuffle, Source};
use super::CHUNK;
use crate::error::{CoreError, Result};

/// How a fractional repeat factor becomes a whole number of copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// `floor(r) + Bernoulli(r − floor(r))`, redrawn every epoch (detectron2).
    Stochastic,
    /// `ceil(r)` every epoch (mmdetection).
    Ceil,
}

impl FromStr for Rounding {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "stochastic" => Ok(Rounding::Stochastic),
            "ceil" => Ok(Rounding::Ceil),
            _ => Err(CoreError::invalid(format!(
                "rounding should be one of 'stochastic', 'ceil', but got rounding='{s}'"
            ))),
        }
    }
}

/// Per-image repeat factors. Image `i` has categories
/// `categories[image_offsets[i]..image_offsets[i + 1]]` (duplicates count once).
/// `f_c` is the fraction of images containing `c`, `r_c = max(1, sqrt(t / f_c))` (or
/// `max(1, t / f_c)` without `sqrt`), and `r_I = max_{c ∈ I} r_c`, 1.0 for an unlabeled image.
pub fn repeat_factors(
    image_offsets: &[i64],
    categories: &[i64],
    threshold: f64,
    sqrt: bool,
) -> Result<Vec<f64>> {
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(CoreError::invalid(format!(
            "threshold should be a finite, non-negative number, but got threshold={threshold}"
        )));
    }
    if image_offsets.len() < 2 {
        return Err(CoreError::invalid(
            "image_labels should hold at least one image, but got 0 images",
        ));
    }
    let ok = image_offsets[0] == 0
        && image_offsets[image_offsets.len() - 1] == categories.len() as i64
        && image_offsets.windows(2).all(|w| w[0] <= w[1]);
    if !ok {
        return Err(CoreError::invalid(
            "image_offsets should be non-decreasing from 0 to len(categories)",
        ));
    }
    if let Some((i, c)) = categories.iter().enumerate().find(|(_, &c)| c < 0) {
        return Err(CoreError::out_of_range(format!(
            "image_labels should hold non-negative category ids, but got category {c} at \
             position {i}"
        )));
    }
    let num_images = (image_offsets.len() - 1) as f64;
    let mut image_count: HashMap<i64, u64> = HashMap::new();
    let mut cats: Vec<i64> = Vec::new();
    let image_cats =
        |i: usize| &categories[image_offsets[i] as usize..image_offsets[i + 1] as usize];
    for i in 0..image_offsets.len() - 1 {
        cats.clear();
        cats.extend_from_slice(image_cats(i));
        cats.sort_unstable();
        cats.dedup();
        for &c in &cats {
            *image_count.entry(c).or_insert(0) += 1;
        }
    }
    let r_c: HashMap<i64, f64> = image_count
        .into_iter()
        .map(|(c, k)| {
            let ratio = threshold / (k as f64 / num_images);
            (c, 1f64.max(if sqrt { ratio.sqrt() } else { ratio }))
        })
        .collect();
    Ok((0..image_offsets.len() - 1)
        .map(|i| image_cats(i).iter().map(|c| r_c[c]).fold(1.0, f64::max))
        .collect())
}

fn check_factors(factors: &[f64]) -> Result<()> {
    if factors.is_empty() {
        return Err(CoreError::invalid(
            "repeat_factors should be a non-empty sequence, but got 0 repeat_factors",
        ));
    }
    match factors
        .iter()
        .enumerate()
        .find(|(_, &r)| !(0.0..4.0e9).contains(&r))
    {
        Some((i, r)) => Err(CoreError::invalid(format!(
            "repeat_factors should be finite, non-negative and below 4e9, but got \
             repeat_factors[{i}]={r}"
        ))),
        None => Ok(()),
    }
}

/// The number of copies of each image in this epoch.
pub fn repeat_counts(
    factors: &[f64],
    rounding: Rounding,
    seed: u64,
    epoch: u64,
) -> Result<Vec<u32>> {
    check_factors(factors)?;
    Ok(match rounding {
        Rounding::Ceil => factors.iter().map(|&r| r.ceil() as u32).collect(),
        Rounding::Stochastic => {
            let mut counts = Vec::with_capacity(factors.len());
            // One uniform per image from its chunk's stream: a fixed layout, so the counts
            // depend on (seed, epoch) only.
            for (k, chunk) in factors.chunks(CHUNK).enumerate() {
                let mut rng = Rng::new(seed, epoch, rng::stream(tag::REPEAT_ROUND, k as u64));
                counts.extend(chunk.iter().map(|&r| {
                    let whole = r.floor();
                    whole as u32 + u32::from(rng.next_f64() < r - whole)
                }));
            }
            counts
        }
    })
}

/// This epoch's length, `Σ_I copies(I)`, without building the epoch.
pub fn repeat_factor_epoch_length(
    factors: &[f64],
    rounding: Rounding,
    seed: u64,
    epoch: u64,
) -> Result<u64> {
    Ok(repeat_counts(factors, rounding, seed, epoch)?
        .iter()
        .map(|&c| u64::from(c))
        .sum())
}

/// One epoch: image `I` repeated `copies(I)` times, shuffled.
pub fn repeat_factor_indices(
    factors: &[f64],
    rounding: Rounding,
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    collect(repeat_factor_stream(factors, rounding, seed, epoch)?)
}

/// [`repeat_factor_indices`] as a lazy epoch in O(N) memory: a uniformly random arrangement
/// of the multiset of copies, drawn one index at a time (the law of shuffling it whole).
pub fn repeat_factor_stream(
    factors: &[f64],
    rounding: Rounding,
    seed: u64,
    epoch: u64,
) -> Result<EpochStream> {
    let copies: Vec<u64> = repeat_counts(factors, rounding, seed, epoch)?
        .into_iter()
        .map(u64::from)
        .collect();
    // At most 4e9 copies of each of at most 2^61 images (they are in memory): no u128 needed
    // until the sum passes 2^63, which check_epoch_len rejects.
    let total = copies.iter().fold(0u64, |s, &c| s.saturating_add(c));
    let total = check_epoch_len("the epoch length sum(copies)", total)?;
    let order = MultisetShuffle::new(&copies, Rng::new(seed, epoch, rng::stream(tag::SHUFFLE, 0)));
    Ok(EpochStream::new(Box::new(Images(order)), total))
}

struct Images(MultisetShuffle);

impl Source for Images {
    fn fill(&mut self, out: &mut [i64]) {
        for x in out.iter_mut() {
            *x = self.0.next() as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_follow_image_frequency() {
        // 4 images: {0, 0, 1}, {1}, {}, {1, 2}. f_0 = 1/4, f_1 = 3/4, f_2 = 1/4.
        let offsets = [0, 3, 4, 4, 6];
        let cats = [0, 0, 1, 1, 1, 2];
        let t = 0.5;
        let r = repeat_factors(&offsets, &cats, t, true).unwrap();
        let r0 = (t / 0.25f64).sqrt();
        assert!((r[0] - r0).abs() < 1e-15);
        assert_eq!(r[1], 1.0);
        assert_eq!(r[2], 1.0);
        assert!((r[3] - r0).abs() < 1e-15);
        let lin = repeat_factors(&offsets, &cats, t, false).unwrap();
        assert!((lin[0] - 2.0).abs() < 1e-15);
        assert!(repeat_factors(&offsets, &cats, -1.0, true).is_err());
        assert!(repeat_factors(&[0, 1], &[-3], 0.1, true).is_err());
    }

    #[test]
    fn ceil_counts_are_exact_and_stochastic_counts_have_the_right_mean() {
        let f = [1.0, 2.5, 1.2, 3.0];
        let out = repeat_factor_indices(&f, Rounding::Ceil, 0, 0).unwrap();
        let mut per = [0; 4];
        for &i in &out {
            per[i as usize] += 1;
        }
        assert_eq!(per, [1, 3, 2, 3]);
        let mut sum = [0u64; 4];
        let epochs = 20_000;
        for e in 0..epochs {
            let c = repeat_counts(&f, Rounding::Stochastic, 1, e).unwrap();
            assert!(c[1] == 2 || c[1] == 3);
            assert_eq!(
                repeat_factor_epoch_length(&f, Rounding::Stochastic, 1, e).unwrap(),
                c.iter().map(|&x| u64::from(x)).sum::<u64>()
            );
            for (s, x) in sum.iter_mut().zip(c) {
                *s += u64::from(x);
            }
        }
        let mean_2_5 = sum[1] as f64 / epochs as f64;
        // sd of the mean: 0.5 / sqrt(20000) ≈ 0.0035.
        assert!((mean_2_5 - 2.5).abs() < 0.03, "{mean_2_5}");
        assert_eq!(sum[0], epochs);
    }

    #[test]
    fn huge_factors_stream() {
        let f = [3.9e9, 3.9e9, 1.0];
        let mut s = repeat_factor_stream(&f, Rounding::Ceil, 0, 0).unwrap();
        assert_eq!(s.remaining(), 7_800_000_001);
        assert!(s.read(5).unwrap().iter().all(|&i| (0..3).contains(&i)));
    }

    #[test]
    fn rounding_parses() {
        assert_eq!("ceil".parse::<Rounding>().unwrap(), Rounding::Ceil);
        assert!("round".parse::<Rounding>().is_err());
        assert!(repeat_counts(&[f64::NAN], Rounding::Ceil, 0, 0).is_err());
        assert!(repeat_counts(&[], Rounding::Ceil, 0, 0).is_err());
    }
}
