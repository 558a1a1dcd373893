//! Random over-sampling and random under-sampling (methods.md 1.1) to per-class target counts.
//!
//! A class whose target is at least its size keeps every original and adds
//! `target − n_c` duplicates drawn with replacement; a class whose target is smaller keeps a
//! uniformly random subset of `target` members (without replacement). The epoch is shuffled.
//! Which targets to ask for (imbalanced-learn's `sampling_strategy`) is the caller's business.

use super::rng::{self, tag, Rng};
use super::{check_grouping, check_num_samples};
use crate::error::{CoreError, Result};

/// One epoch holding `targets[c]` indices of class `c`, shuffled.
pub fn resample_indices(
    offsets: &[i64],
    members: &[i64],
    targets: &[i64],
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    let counts = check_grouping(offsets, members)?;
    if targets.len() != counts.len() {
        return Err(CoreError::shape(format!(
            "targets should have one entry per class ({}), but got {} entries",
            counts.len(),
            targets.len()
        )));
    }
    let mut total = 0u64;
    for (c, &t) in targets.iter().enumerate() {
        if t < 0 {
            return Err(CoreError::invalid(format!(
                "targets should be non-negative counts, but got targets[{c}]={t}"
            )));
        }
        total = total.saturating_add(t as u64);
    }
    let m = check_num_samples(total)?;
    let mut out = Vec::with_capacity(m);
    let mut subset: Vec<i64> = Vec::new();
    for (c, (&n, &t)) in counts.iter().zip(targets).enumerate() {
        let class = &members[offsets[c] as usize..offsets[c] as usize + n];
        let t = t as usize;
        let mut rng = Rng::new(seed, epoch, rng::stream(tag::RESAMPLE, c as u64));
        if t >= n {
            out.extend_from_slice(class);
            for _ in n..t {
                out.push(class[rng.below(n as u64) as usize]);
            }
        } else {
            // The first t steps of a Fisher–Yates shuffle: a uniform t-subset.
            subset.clear();
            subset.extend_from_slice(class);
            for i in 0..t {
                let j = i + rng.below((n - i) as u64) as usize;
                subset.swap(i, j);
            }
            out.extend_from_slice(&subset[..t]);
        }
    }
    Rng::new(seed, epoch, rng::stream(tag::SHUFFLE, 0)).shuffle(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::group_labels;

    #[test]
    fn over_and_under_sampling_hit_the_targets_exactly() {
        // n = [5, 2, 1].
        let labels = [0, 0, 1, 0, 2, 0, 1, 0];
        let g = group_labels(&labels).unwrap();
        let over = resample_indices(&g.offsets, &g.members, &[5, 5, 5], 0, 0).unwrap();
        let mut per = [0; 3];
        for &i in &over {
            per[labels[i as usize] as usize] += 1;
        }
        assert_eq!(per, [5, 5, 5]);
        // Every original is kept.
        for i in 0..8 {
            assert!(over.contains(&i));
        }
        let under = resample_indices(&g.offsets, &g.members, &[1, 1, 1], 0, 0).unwrap();
        let mut cls: Vec<i64> = under.iter().map(|&i| labels[i as usize]).collect();
        cls.sort_unstable();
        assert_eq!(cls, vec![0, 1, 2]);
        let sub = resample_indices(&g.offsets, &g.members, &[3, 2, 0], 4, 1).unwrap();
        let mut d = sub.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 5, "under-sampling draws without replacement");
    }

    #[test]
    fn subsets_are_uniform() {
        let labels = [0i64; 4];
        let g = group_labels(&labels).unwrap();
        let mut hits = [0u32; 4];
        for e in 0..40_000 {
            for i in resample_indices(&g.offsets, &g.members, &[1], 0, e).unwrap() {
                hits[i as usize] += 1;
            }
        }
        for h in hits {
            assert!((h as i64 - 10_000).abs() < 520, "{hits:?}");
        }
    }

    #[test]
    fn rejects_bad_targets() {
        let g = group_labels(&[0, 1]).unwrap();
        assert!(resample_indices(&g.offsets, &g.members, &[1], 0, 0).is_err());
        assert!(resample_indices(&g.offsets, &g.members, &[1, -1], 0, 0).is_err());
    }
}
