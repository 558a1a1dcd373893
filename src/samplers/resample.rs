//! Random over-sampling and random under-sampling to per-class target counts.
//!
//! A class whose target is at least its size keeps every original and adds
//! `target − n_c` duplicates drawn with replacement; a class whose target is smaller keeps a
//! uniformly random subset of `target` members (without replacement). The epoch is shuffled.
//! Which targets to ask for (imbalanced-learn's `sampling_strategy`) is the caller's business.

use super::check_grouping;
use super::rng::{self, tag, Rng};
use super::stream::{collect, EpochStream, MultisetShuffle, Source, MAX_EPOCH_LEN};
use crate::error::{CoreError, Result};

/// One epoch holding `targets[c]` indices of class `c`, shuffled.
pub fn resample_indices(
    offsets: &[i64],
    members: &[i64],
    targets: &[i64],
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    collect(resample_stream(offsets, members, targets, seed, epoch)?)
}

/// [`resample_indices`] as a lazy epoch, in O(N + C) memory whatever the targets.
///
/// Shuffling the whole epoch is the same law as (a) arranging the class labels uniformly at
/// random ([`MultisetShuffle`]) and (b) giving each class's slots its own items in a uniformly
/// random order. For (b), class `c`'s next slot holds one of its originals not yet used with
/// probability `originals left / slots left` (a uniform one, by one step of a Fisher–Yates
/// shuffle of the class), else a fresh duplicate drawn uniformly from the class.
pub fn resample_stream(
    offsets: &[i64],
    members: &[i64],
    targets: &[i64],
    seed: u64,
    epoch: u64,
) -> Result<EpochStream> {
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
    if total > MAX_EPOCH_LEN {
        return Err(CoreError::invalid(format!(
            "targets should sum to at most 2**63 - 1, but got sum(targets)={}",
            targets.iter().map(|&t| t as u128).sum::<u128>()
        )));
    }
    let slots: Vec<u64> = targets.iter().map(|&t| t as u64).collect();
    if total <= WHOLE_EPOCH_MAX {
        if let Some(epoch) = whole_epoch(offsets, members, &counts, &slots, total, seed, epoch) {
            return Ok(EpochStream::new(Box::new(Drawn { epoch, next: 0 }), total));
        }
    }
    Ok(streamed(
        offsets, members, &counts, slots, total, seed, epoch,
    ))
}

/// The epoch streamed, in O(N + C) memory.
fn streamed(
    offsets: &[i64],
    members: &[i64],
    counts: &[usize],
    slots: Vec<u64>,
    total: u64,
    seed: u64,
    epoch: u64,
) -> EpochStream {
    let classes = (0..counts.len())
        .map(|c| ClassSlots {
            start: offsets[c] as usize,
            size: counts[c] as u64,
            used: 0,
            originals_left: slots[c].min(counts[c] as u64),
            slots_left: slots[c],
            rng: Rng::new(seed, epoch, rng::stream(tag::RESAMPLE, c as u64)),
        })
        .collect();
    let source = Resample {
        order: MultisetShuffle::new(&slots, Rng::new(seed, epoch, rng::stream(tag::SHUFFLE, 0))),
        classes,
        scratch: members.to_vec(),
    };
    EpochStream::new(Box::new(source), total)
}

/// Epochs up to this many indices (512 MiB) are drawn whole, then handed out: the same law as
/// the stream below at about 8 ns an index instead of 60 (a Fenwick-tree descent and two
/// draws per index). Longer epochs, or one whose buffer the allocator refuses, stream.
const WHOLE_EPOCH_MAX: u64 = 1 << 26;

/// The epoch drawn whole: each class's kept originals (a uniform subset of `min(target, n)`,
/// a partial Fisher–Yates shuffle) and duplicates (uniform, with replacement), then the whole
/// epoch shuffled. None when the buffer cannot be had, or a class with no member is asked for
/// indices (the stream reports that case as it always did).
fn whole_epoch(
    offsets: &[i64],
    members: &[i64],
    counts: &[usize],
    slots: &[u64],
    total: u64,
    seed: u64,
    epoch: u64,
) -> Option<Vec<i64>> {
    if counts.iter().zip(slots).any(|(&n, &t)| n == 0 && t > 0) {
        return None;
    }
    let mut out: Vec<i64> = Vec::new();
    out.try_reserve_exact(usize::try_from(total).ok()?).ok()?;
    let mut scratch = members.to_vec();
    for (c, (&n, &t)) in counts.iter().zip(slots).enumerate() {
        let mut rng = Rng::new(seed, epoch, rng::stream(tag::RESAMPLE, c as u64));
        let start = offsets[c] as usize;
        let class = &mut scratch[start..start + n];
        let n = n as u64;
        let keep = t.min(n);
        for i in 0..keep as usize {
            let j = i + rng.below(n - i as u64) as usize;
            class.swap(i, j);
            out.push(class[i]);
        }
        for _ in keep..t {
            out.push(class[rng.below(n) as usize]);
        }
    }
    Rng::new(seed, epoch, rng::stream(tag::SHUFFLE, 0)).shuffle(&mut out);
    Some(out)
}

/// A whole drawn epoch, read front to back.
struct Drawn {
    epoch: Vec<i64>,
    next: usize,
}

impl Source for Drawn {
    fn fill(&mut self, out: &mut [i64]) {
        out.copy_from_slice(&self.epoch[self.next..self.next + out.len()]);
        self.next += out.len();
    }

    fn skip(&mut self, n: u64) {
        self.next += n as usize;
    }

    fn take_rest(&mut self) -> Option<Vec<i64>> {
        let mut rest = std::mem::take(&mut self.epoch);
        rest.drain(..self.next);
        self.next = 0;
        Some(rest)
    }
}

struct ClassSlots {
    start: usize,
    size: u64,
    /// Originals handed out so far: `scratch[start..start + used]`.
    used: u64,
    originals_left: u64,
    slots_left: u64,
    rng: Rng,
}

struct Resample {
    order: MultisetShuffle,
    classes: Vec<ClassSlots>,
    scratch: Vec<i64>,
}

impl Source for Resample {
    fn fill(&mut self, out: &mut [i64]) {
        for x in out.iter_mut() {
            let c = &mut self.classes[self.order.next()];
            let original = c.originals_left == c.slots_left
                || (c.originals_left > 0 && c.rng.below(c.slots_left) < c.originals_left);
            if original {
                let i = c.start + c.used as usize;
                let j = i + c.rng.below(c.size - c.used) as usize;
                self.scratch.swap(i, j);
                *x = self.scratch[i];
                c.used += 1;
                c.originals_left -= 1;
            } else {
                *x = self.scratch[c.start + c.rng.below(c.size) as usize];
            }
            c.slots_left -= 1;
        }
    }
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
    fn huge_targets_stream_and_the_epoch_is_uniformly_shuffled() {
        let g = group_labels(&[0, 1, 1]).unwrap();
        let mut s = resample_stream(&g.offsets, &g.members, &[1 << 40, 1 << 40], 0, 0).unwrap();
        assert_eq!(s.remaining(), 1 << 41);
        assert!(s.read(10).unwrap().iter().all(|&i| (0..3).contains(&i)));
        assert!(s.into_vec().is_err());
        assert!(resample_stream(&g.offsets, &g.members, &[i64::MAX, 1], 0, 0).is_err());
        // Targets [1, 2] keep every original of {0} and {1, 2}: each of the 3! orders of
        // (0, 1, 2) is equally likely.
        let mut seen = std::collections::HashMap::new();
        for e in 0..6000 {
            let out = resample_indices(&g.offsets, &g.members, &[1, 2], 3, e).unwrap();
            *seen.entry(out).or_insert(0u32) += 1;
        }
        assert_eq!(seen.len(), 6);
        assert!(
            seen.values().all(|&h| (h as i64 - 1000).abs() < 150),
            "{seen:?}"
        );
    }

    /// The streamed epoch (what epochs beyond `WHOLE_EPOCH_MAX` use) has the law of the drawn
    /// one: exact per-class counts, every original kept when over-sampling, a uniform subset
    /// when under-sampling, and every order of a fixed multiset equally likely.
    #[test]
    fn the_streamed_epoch_has_the_drawn_epochs_law() {
        let g = group_labels(&[0, 1, 1, 0, 0, 1, 0, 0]).unwrap();
        let counts = check_grouping(&g.offsets, &g.members).unwrap();
        let stream = |targets: &[u64], seed, e| {
            let total = targets.iter().sum();
            streamed(
                &g.offsets,
                &g.members,
                &counts,
                targets.to_vec(),
                total,
                seed,
                e,
            )
            .into_vec()
            .unwrap()
        };
        let over = stream(&[7, 7], 0, 0);
        assert_eq!(over.len(), 14);
        for i in 0..8 {
            assert!(over.contains(&i), "every original is kept");
        }
        let mut hits = [0u32; 8];
        for e in 0..20_000 {
            let under = stream(&[1, 1], 1, e);
            assert_eq!(under.len(), 2);
            for i in under {
                hits[i as usize] += 1;
            }
        }
        // Class 0 has 5 members (4000 hits each expected), class 1 has 3 (6667 each).
        for (i, h) in hits.iter().enumerate() {
            let want = if [0, 3, 4, 6, 7].contains(&i) {
                4000
            } else {
                6667
            };
            assert!((*h as i64 - want).abs() < 350, "{hits:?}");
        }
        let mut seen = std::collections::HashMap::new();
        let g2 = group_labels(&[0, 1, 1]).unwrap();
        let counts2 = check_grouping(&g2.offsets, &g2.members).unwrap();
        for e in 0..6000 {
            let out = streamed(&g2.offsets, &g2.members, &counts2, vec![1, 2], 3, 3, e)
                .into_vec()
                .unwrap();
            *seen.entry(out).or_insert(0u32) += 1;
        }
        assert_eq!(seen.len(), 6);
        assert!(
            seen.values().all(|&h| (h as i64 - 1000).abs() < 150),
            "{seen:?}"
        );
    }

    #[test]
    fn a_drawn_epoch_reads_and_skips_like_its_whole() {
        let g = group_labels(&[0, 1, 1, 2, 0]).unwrap();
        let whole = resample_indices(&g.offsets, &g.members, &[4, 3, 5], 9, 2).unwrap();
        let mut s = resample_stream(&g.offsets, &g.members, &[4, 3, 5], 9, 2).unwrap();
        let head = s.read(5).unwrap();
        s.skip(2).unwrap();
        let tail = s.into_vec().unwrap();
        assert_eq!(head, whole[..5]);
        assert_eq!(tail, whole[7..]);
    }

    #[test]
    fn rejects_bad_targets() {
        let g = group_labels(&[0, 1]).unwrap();
        assert!(resample_indices(&g.offsets, &g.members, &[1], 0, 0).is_err());
        assert!(resample_indices(&g.offsets, &g.members, &[1, -1], 0, 0).is_err());
    }
}
