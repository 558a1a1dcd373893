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

use super::check_grouping;
use super::rng::{self, tag, Rng};
use super::stream::{check_epoch_len, collect, EpochStream, Source};
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
    collect(class_aware_stream(
        offsets,
        members,
        samples_per_class,
        num_samples,
        seed,
        epoch,
    )?)
}

/// [`class_aware_indices`] as a lazy epoch. The cycles are sequential, so the stream keeps
/// their state (O(N + C) memory) and a skip replays the draws it passes.
pub fn class_aware_stream(
    offsets: &[i64],
    members: &[i64],
    samples_per_class: u64,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> Result<EpochStream> {
    let counts = check_grouping(offsets, members)?;
    if samples_per_class == 0 {
        return Err(CoreError::invalid(
            "samples_per_class should be a positive integer, but got samples_per_class=0",
        ));
    }
    let m = check_epoch_len("num_samples", num_samples)?;
    let c = counts.len();
    let source = ClassCycles {
        group_size: samples_per_class,
        group_left: 0,
        current: 0,
        cycle_rng: Rng::new(seed, epoch, rng::stream(tag::CLASS_CYCLE, 0)),
        perm: (0..c).collect(),
        // Start "at the end of a pass", as RandomCycleIter does (i = len - 1), so the first
        // visit shuffles.
        pos: c,
        starts: offsets[..c].iter().map(|&o| o as usize).collect(),
        scratch: members.to_vec(),
        // Each class draws from its own stream, so its cycle does not depend on the
        // interleaving; `next == count` makes the first visit shuffle.
        rngs: (0..c)
            .map(|k| Rng::new(seed, epoch, rng::stream(tag::CLASS_MEMBERS, k as u64)))
            .collect(),
        next: counts.clone(),
        counts,
    };
    Ok(EpochStream::new(Box::new(source), m))
}

/// The two levels of `RandomCycleIter`: classes in a fresh permutation per pass, groups of
/// `group_size` slots per visit, and each class's members in a fresh permutation per wrap.
struct ClassCycles {
    group_size: u64,
    group_left: u64,
    current: usize,
    cycle_rng: Rng,
    perm: Vec<usize>,
    pos: usize,
    starts: Vec<usize>,
    counts: Vec<usize>,
    scratch: Vec<i64>,
    rngs: Vec<Rng>,
    next: Vec<usize>,
}

impl Source for ClassCycles {
    fn fill(&mut self, out: &mut [i64]) {
        let num_classes = self.perm.len();
        for x in out.iter_mut() {
            if self.group_left == 0 {
                if self.pos == num_classes {
                    self.pos = 0;
                    self.cycle_rng.shuffle(&mut self.perm);
                }
                self.current = self.perm[self.pos];
                self.pos += 1;
                self.group_left = self.group_size;
            }
            self.group_left -= 1;
            let c = self.current;
            let (start, n) = (self.starts[c], self.counts[c]);
            if self.next[c] == n {
                self.next[c] = 0;
                self.rngs[c].shuffle(&mut self.scratch[start..start + n]);
            }
            *x = self.scratch[start + self.next[c]];
            self.next[c] += 1;
        }
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
    fn streams_match_whole_epochs_and_huge_ones_start_promptly() {
        let labels: Vec<i64> = (0..300).map(|i| (i * 7) % 11).collect();
        let g = group_labels(&labels).unwrap();
        let whole = class_aware_indices(&g.offsets, &g.members, 3, 5000, 2, 1).unwrap();
        let mut s = class_aware_stream(&g.offsets, &g.members, 3, 5000, 2, 1).unwrap();
        s.skip(1234).unwrap();
        let mut rest = s.read(1000).unwrap();
        rest.extend(s.read(10_000).unwrap());
        assert_eq!(rest, whole[1234..]);
        let mut huge = class_aware_stream(&g.offsets, &g.members, 1 << 40, 1 << 62, 2, 1).unwrap();
        assert_eq!(huge.read(3).unwrap().len(), 3);
    }

    #[test]
    fn rejects_zero_k() {
        let g = group_labels(&[0, 1]).unwrap();
        assert!(class_aware_indices(&g.offsets, &g.members, 0, 4, 0, 0).is_err());
    }
}
