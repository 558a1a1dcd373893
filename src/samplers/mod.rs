//! Index generation for the re-sampling methods (pure Rust, no libtorch, no Python).
//!
//! Every method gives one epoch's indices, global and unsharded, as a function of
//! `(seed, epoch)` and its arguments only: as a lazy [`stream::EpochStream`] (memory O(chunk)
//! whatever the epoch's length) or, reading that stream to its end, as one array. The Python
//! layer shards the stream across ranks.
//! Labels enter as a [`Grouping`] (the dataset's indices sorted by class, built once), so an
//! epoch allocates little beyond its output.

pub mod alias;
pub mod class_aware;
pub mod repeat_factor;
pub mod resample;
pub mod rng;
pub mod stream;
pub mod two_level;
pub mod weighted;

use crate::error::{CoreError, Result};

/// Draws per chunk of parallel generation. Each chunk has its own RNG stream, so the output
/// does not depend on how many threads run.
pub const CHUNK: usize = 1 << 16;

/// The dataset's indices grouped by class, in CSR form, over the classes present only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The label value of each non-empty class, ascending.
    pub classes: Vec<i64>,
    /// `members[offsets[c]..offsets[c + 1]]` are the indices of class `classes[c]`.
    pub offsets: Vec<i64>,
    /// Dataset indices sorted by class, ascending within a class.
    pub members: Vec<i64>,
}

/// Groups `labels` by class with a counting sort: O(N + max label) when labels are dense,
/// else a sort of the distinct labels (so a label like 10^12 does not allocate 10^12 counters).
pub fn group_labels(labels: &[i64]) -> Result<Grouping> {
    if labels.is_empty() {
        return Err(CoreError::invalid(
            "labels should be a non-empty sequence of class indices, but got 0 labels",
        ));
    }
    let mut max = 0i64;
    for (i, &y) in labels.iter().enumerate() {
        if y < 0 {
            return Err(CoreError::out_of_range(format!(
                "labels should be non-negative class indices, but got labels[{i}]={y}"
            )));
        }
        max = max.max(y);
    }
    let n = labels.len();
    // Dense label → dense class id. Either a direct table or a sorted list of distinct labels.
    let dense = (max as u128) < (2 * n as u128 + 65_536);
    let (classes, class_of): (Vec<i64>, Box<dyn Fn(i64) -> usize>) = if dense {
        let mut present = vec![false; max as usize + 1];
        for &y in labels {
            present[y as usize] = true;
        }
        let mut id = vec![usize::MAX; max as usize + 1];
        let mut classes = Vec::new();
        for (y, &p) in present.iter().enumerate() {
            if p {
                id[y] = classes.len();
                classes.push(y as i64);
            }
        }
        (classes, Box::new(move |y| id[y as usize]))
    } else {
        let mut classes = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        let lookup = classes.clone();
        (
            classes,
            Box::new(move |y| lookup.binary_search(&y).unwrap_or(0)),
        )
    };
    let c = classes.len();
    let mut offsets = vec![0i64; c + 1];
    let mut ids = Vec::with_capacity(n);
    for &y in labels {
        let k = class_of(y);
        ids.push(k as u32);
        offsets[k + 1] += 1;
    }
    for k in 0..c {
        offsets[k + 1] += offsets[k];
    }
    let mut next: Vec<i64> = offsets[..c].to_vec();
    let mut members = vec![0i64; n];
    for (i, &k) in ids.iter().enumerate() {
        let slot = &mut next[k as usize];
        members[*slot as usize] = i as i64;
        *slot += 1;
    }
    Ok(Grouping {
        classes,
        offsets,
        members,
    })
}

/// Checks a CSR grouping coming from outside (the binding) and returns the per-class counts.
/// `offsets` must start at 0, end at `members.len()` and have non-empty, increasing classes.
pub fn check_grouping(offsets: &[i64], members: &[i64]) -> Result<Vec<usize>> {
    if offsets.len() < 2 {
        return Err(CoreError::shape(format!(
            "offsets should have at least 2 entries (one class), but got {} entries",
            offsets.len()
        )));
    }
    if offsets[0] != 0 || offsets[offsets.len() - 1] != members.len() as i64 {
        return Err(CoreError::invalid(format!(
            "offsets should run from 0 to len(members)={}, but got offsets[0]={} and offsets[-1]={}",
            members.len(),
            offsets[0],
            offsets[offsets.len() - 1]
        )));
    }
    offsets
        .windows(2)
        .enumerate()
        .map(|(c, w)| {
            if w[1] > w[0] {
                Ok((w[1] - w[0]) as usize)
            } else {
                Err(CoreError::invalid(format!(
                    "offsets should be strictly increasing (every class non-empty), but got \
                     offsets[{c}]={} and offsets[{}]={}",
                    w[0],
                    c + 1,
                    w[1]
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_dense_labels() {
        let g = group_labels(&[2, 0, 2, 5, 0, 2]).unwrap();
        assert_eq!(g.classes, vec![0, 2, 5]);
        assert_eq!(g.offsets, vec![0, 2, 5, 6]);
        assert_eq!(g.members, vec![1, 4, 0, 2, 5, 3]);
        assert_eq!(
            check_grouping(&g.offsets, &g.members).unwrap(),
            vec![2, 3, 1]
        );
    }

    #[test]
    fn groups_sparse_labels_without_a_huge_table() {
        let g = group_labels(&[1_000_000_000_000, 3, 1_000_000_000_000]).unwrap();
        assert_eq!(g.classes, vec![3, 1_000_000_000_000]);
        assert_eq!(g.offsets, vec![0, 1, 3]);
        assert_eq!(g.members, vec![1, 0, 2]);
    }

    #[test]
    fn rejects_bad_labels_and_groupings() {
        assert!(matches!(
            group_labels(&[]),
            Err(CoreError::InvalidArgument(_))
        ));
        let err = group_labels(&[0, -1]).unwrap_err();
        assert_eq!(
            err,
            CoreError::out_of_range(
                "labels should be non-negative class indices, but got labels[1]=-1"
            )
        );
        assert!(check_grouping(&[0], &[]).is_err());
        assert!(check_grouping(&[0, 2], &[0]).is_err());
        assert!(check_grouping(&[0, 0, 1], &[0]).is_err());
        assert!(check_grouping(&[1, 1], &[0]).is_err());
    }
}
