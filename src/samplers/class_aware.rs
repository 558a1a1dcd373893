//! Class-aware sampling with the exact cycling of the decoupling code (Shen et al. 2016;
//! facebookresearch/classifier-balancing `data/ClassAwareSampler.py`).
//!
//! Two levels of `RandomCycleIter`: one over the classes, reshuffled at the start of every pass
//! (the first included), and one per class over its members, reshuffled at every wrap-around.
//! Each visit to a class takes its next `k` members. The official iterators live in the
//! sampler and carry over across epochs; here every epoch is derived from `(seed, epoch)` alone
//! (all cycles restart fresh each epoch), so each rank and each resumed run rebuilds it exactly.
//! The per-epoch law of class counts is the same: exactly `n_max` per class when `k | n_max`
//! and the epoch has its default length `n_max·C`.

use super::rng::{self, tag, Rng};
use super::{check_grouping, check_num_samples};
use crate::error::{CoreError, Result};

/// One epoch of class-aware sampling: `num_samples` indices, in groups of `samples_per_class`
/// consecutive members of one class (the last group may be cut short by the epoch's end).
pub fn class_aware_indices(
    offsets: &[i64],
    members: &[i64],
    samples_per_class: u64,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    let counts = check_grouping(offsets, members)?;
    if samples_per_class == 0 {
        return Err(CoreError::invalid(
            "samples_per_class should be a positive integer, but got samples_per_class=0",
        ));
    }
    let m = check_num_samples(num_samples)?;
    let k = usize::try_from(samples_per_class).unwrap_or(usize::MAX);
    let mut out = vec![0i64; m];
    class_sequence(&mut out, counts.len(), k, seed, epoch);
    // A shuffled working copy of the members; u32 halves its memory when indices allow.
    if members
        .iter()
        .all(|&x| (0..=i64::from(u32::MAX)).contains(&x))
    {
        fill_members::<u32>(&mut out, offsets, members, &counts, seed, epoch);
    } else {
        fill_members::<i64>(&mut out, offsets, members, &counts, seed, epoch);
    }
    Ok(out)
}

/// Writes the class of each slot: groups of `k` slots, one class per group, classes visited in
/// a fresh random permutation on every pass.
fn class_sequence(out: &mut [i64], num_classes: usize, k: usize, seed: u64, epoch: u64) {
    let mut rng = Rng::new(seed, epoch, rng::stream(tag::CLASS_CYCLE, 0));
    let mut perm: Vec<i64> = (0..num_classes as i64).collect();
    // Start "at the end of a pass", as RandomCycleIter does (i = len - 1), so the first draw
    // shuffles.
    let mut pos = num_classes;
    for group in out.chunks_mut(k) {
        if pos == num_classes {
            pos = 0;
            rng.shuffle(&mut perm);
        }
        group.fill(perm[pos]);
        pos += 1;
    }
}

/// Replaces each slot's class by that class's next member in its own cycle.
fn fill_members<T>(
    out: &mut [i64],
    offsets: &[i64],
    members: &[i64],
    counts: &[usize],
    seed: u64,
    epoch: u64,
) where
    T: Copy + Into<i64> + TryFrom<i64>,
{
    // The caller checked that every member converts; a failed conversion cannot happen.
    let mut scratch: Vec<T> = members
        .iter()
        .filter_map(|&x| T::try_from(x).ok())
        .collect();
    // Each class draws from its own stream, so its cycle does not depend on the interleaving.
    let mut rngs: Vec<Rng> = (0..counts.len())
        .map(|c| Rng::new(seed, epoch, rng::stream(tag::CLASS_MEMBERS, c as u64)))
        .collect();
    let mut next: Vec<usize> = counts.to_vec();
    for x in out.iter_mut() {
        let c = *x as usize;
        let start = offsets[c] as usize;
        if next[c] == counts[c] {
            next[c] = 0;
            rngs[c].shuffle(&mut scratch[start..start + counts[c]]);
        }
        *x = scratch[start + next[c]].into();
        next[c] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::group_labels;

    fn class_counts(out: &[i64], labels: &[i64], c: usize) -> Vec<usize> {
        let mut counts = vec![0; c];
        for &i in out {
            counts[labels[i as usize] as usize] += 1;
        }
        counts
    }

    #[test]
    fn exact_counts_when_k_divides_n_max() {
        // n = [8, 2, 1, 4]: n_max = 8, C = 4.
        let mut labels = vec![0i64; 8];
        labels.extend([1, 1, 2, 3, 3, 3, 3]);
        let g = group_labels(&labels).unwrap();
        for k in [1, 2, 4, 8] {
            for epoch in 0..5 {
                let out = class_aware_indices(&g.offsets, &g.members, k, 32, 7, epoch).unwrap();
                assert_eq!(class_counts(&out, &labels, 4), vec![8, 8, 8, 8], "k={k}");
            }
        }
    }

    #[test]
    fn groups_of_k_come_from_one_class_and_passes_are_permutations() {
        let labels: Vec<i64> = (0..60).map(|i| i % 5).collect();
        let g = group_labels(&labels).unwrap();
        let k = 3;
        let out = class_aware_indices(&g.offsets, &g.members, k, 60 * 2, 1, 0).unwrap();
        let classes: Vec<i64> = out
            .chunks(k as usize)
            .map(|grp| {
                let c = labels[grp[0] as usize];
                assert!(grp.iter().all(|&i| labels[i as usize] == c));
                c
            })
            .collect();
        // Every run of C = 5 groups is one permutation of the classes.
        for pass in classes.chunks(5) {
            let mut p = pass.to_vec();
            p.sort_unstable();
            assert_eq!(p, vec![0, 1, 2, 3, 4]);
        }
        // Each class's 24 draws are two passes over its 12 members, each without repeats.
        for c in 0..5 {
            let draws: Vec<i64> = out
                .iter()
                .copied()
                .filter(|&i| labels[i as usize] == c)
                .collect();
            assert_eq!(draws.len(), 24);
            for pass in draws.chunks(12) {
                let mut p = pass.to_vec();
                p.sort_unstable();
                let want: Vec<i64> = (0..60).filter(|i| i % 5 == c).collect();
                assert_eq!(p, want);
            }
        }
    }

    #[test]
    fn deterministic_and_epoch_dependent() {
        let labels: Vec<i64> = (0..1000).map(|i| (i * i) % 13).collect();
        let g = group_labels(&labels).unwrap();
        let a = class_aware_indices(&g.offsets, &g.members, 2, 5000, 3, 1).unwrap();
        assert_eq!(
            a,
            class_aware_indices(&g.offsets, &g.members, 2, 5000, 3, 1).unwrap()
        );
        assert_ne!(
            a,
            class_aware_indices(&g.offsets, &g.members, 2, 5000, 3, 2).unwrap()
        );
    }

    #[test]
    fn wide_indices_use_the_i64_path() {
        let offsets = [0, 2, 3];
        let members = [5_000_000_000, 7_000_000_000, 1];
        let out = class_aware_indices(&offsets, &members, 1, 4, 0, 0).unwrap();
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted[..2], [1, 1]);
        assert!(sorted[2..].contains(&5_000_000_000) && sorted[2..].contains(&7_000_000_000));
    }

    #[test]
    fn rejects_zero_k() {
        let g = group_labels(&[0, 1]).unwrap();
        assert!(class_aware_indices(&g.offsets, &g.members, 0, 4, 0, 0).is_err());
    }
}
