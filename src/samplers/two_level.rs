//! i.i.d. two-level sampling: a class drawn with probability `∝ class_weights` (alias table over
//! the classes), then an instance of it uniformly. Class-balanced, power / square-root,
//! progressively-balanced and BBN reversed sampling are this with different class weights.

use super::alias::AliasTable;
use super::check_grouping;
use super::rng::{tag, Rng};
use super::stream::{check_epoch_len, collect, ChunkedIid, Draw, EpochStream};
use crate::error::{CoreError, Result};

/// `num_samples` i.i.d. draws: class `c` with probability `class_weights[c] / Σ class_weights`,
/// then a uniform member of `members[offsets[c]..offsets[c + 1]]`. O(1) per draw.
pub fn class_weighted_indices(
    offsets: &[i64],
    members: &[i64],
    class_weights: &[f64],
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    collect(class_weighted_stream(
        offsets,
        members,
        class_weights,
        num_samples,
        seed,
        epoch,
    )?)
}

/// [`class_weighted_indices`] as a lazy epoch: chunks of [`super::CHUNK`] draws, each from its
/// own generator.
pub fn class_weighted_stream(
    offsets: &[i64],
    members: &[i64],
    class_weights: &[f64],
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> Result<EpochStream> {
    let counts = check_grouping(offsets, members)?;
    if class_weights.len() != counts.len() {
        return Err(CoreError::shape(format!(
            "class_weights should have one entry per class ({}), but got {} entries",
            counts.len(),
            class_weights.len()
        )));
    }
    let m = check_epoch_len("num_samples", num_samples)?;
    let table = AliasTable::new(class_weights, "class_weights")?;
    let draw = TwoLevel {
        table,
        starts: offsets[..counts.len()]
            .iter()
            .map(|&o| o as usize)
            .collect(),
        counts: counts.iter().map(|&c| c as u64).collect(),
        members: members.to_vec(),
    };
    Ok(ChunkedIid::stream(draw, m, seed, epoch, tag::TWO_LEVEL))
}

struct TwoLevel {
    table: AliasTable,
    starts: Vec<usize>,
    counts: Vec<u64>,
    members: Vec<i64>,
}

impl Draw for TwoLevel {
    #[inline]
    fn draw(&self, rng: &mut Rng) -> i64 {
        let c = self.table.sample(rng);
        let j = rng.below(self.counts[c]) as usize;
        self.members[self.starts[c] + j]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::group_labels;

    #[test]
    fn class_frequencies_follow_the_class_weights() {
        // Classes 0, 1, 2 with 1, 3 and 6 members.
        let labels = [2, 1, 2, 2, 0, 1, 2, 2, 1, 2];
        let g = group_labels(&labels).unwrap();
        let out = class_weighted_indices(&g.offsets, &g.members, &[1.0, 1.0, 2.0], 200_000, 0, 0)
            .unwrap();
        let mut per_class = [0f64; 3];
        let mut per_index = [0f64; 10];
        for &i in &out {
            per_class[labels[i as usize] as usize] += 1.0;
            per_index[i as usize] += 1.0;
        }
        for (c, p) in per_class.iter().zip([0.25, 0.25, 0.5]) {
            let sd = (200_000.0f64 * p * (1.0 - p)).sqrt();
            assert!((c - 200_000.0 * p).abs() < 6.0 * sd, "{per_class:?}");
        }
        // Within class 2 (indices 0, 2, 3, 5, 6, 9) the draws are uniform.
        for i in [0, 2, 3, 5, 6, 9] {
            let p = 0.5 / 6.0;
            let sd = (200_000.0f64 * p * (1.0 - p)).sqrt();
            assert!(
                (per_index[i] - 200_000.0 * p).abs() < 6.0 * sd,
                "{per_index:?}"
            );
        }
    }

    #[test]
    fn zero_weight_classes_are_never_drawn() {
        let g = group_labels(&[0, 1, 1, 2]).unwrap();
        let out =
            class_weighted_indices(&g.offsets, &g.members, &[0.0, 1.0, 0.0], 1000, 1, 2).unwrap();
        assert!(out.iter().all(|&i| i == 1 || i == 2));
    }

    #[test]
    fn huge_epochs_stream_their_first_draws() {
        let g = group_labels(&[0, 1, 1, 2]).unwrap();
        let w = [1.0, 2.0, 3.0];
        let head = class_weighted_indices(&g.offsets, &g.members, &w, 100, 5, 6).unwrap();
        let mut s = class_weighted_stream(&g.offsets, &g.members, &w, 1 << 62, 5, 6).unwrap();
        assert_eq!(s.read(100).unwrap(), head);
        assert!(s.into_vec().is_err());
    }

    #[test]
    fn rejects_mismatched_weights() {
        let g = group_labels(&[0, 1]).unwrap();
        assert!(matches!(
            class_weighted_indices(&g.offsets, &g.members, &[1.0], 10, 0, 0),
            Err(CoreError::Shape(_))
        ));
        assert!(class_weighted_indices(&g.offsets, &g.members, &[0.0, 0.0], 10, 0, 0).is_err());
    }
}
