//! One fused kernel for group softmax (BAGS, Li et al., CVPR 2020; the port in
//! tztztztztz/eqlv2 `mmdet/models/losses/group_softmax.py`): the logits of a row are cut
//! into G consecutive groups of columns, each a separate softmax, and the row loss is
//! `ℓ_i = Σ_g w_ig · CE(z_i[group g], t_ig)` with a per-(row, group) target position `t` and
//! weight `w` (BAGS's sampled "keep" mask divided by the group's normaliser, prepared by the
//! caller). The gradient of group g is `w_ig (softmax − onehot)`, computed in the same pass.

use super::blocks::{run_blocks, BlockPlan, BlockWork};
use super::lanes::{exp_shift_sum, max_lanes};
use super::{Real, Reduction};
use crate::error::{CoreError, Result};

/// The parameters of the group-softmax kernel.
#[derive(Debug, Clone, Copy)]
pub struct GroupSoftmaxParams<'a, T> {
    /// Column offsets: group g spans `offsets[g]..offsets[g + 1]` (length G+1, from 0 to K).
    pub offsets: &'a [usize],
    /// `(N, G)`: the target position of each row inside each group.
    pub targets: &'a [i64],
    /// `(N, G)`: the weight of each row in each group; 0 skips the group for that row.
    pub weights: &'a [T],
    /// `None`: one loss per row; `Mean`/`Sum`: the sum of all (the weights hold any divisor).
    pub reduction: Reduction,
}

/// Rows per rayon task; fixed by the shape alone, so results do not depend on the number of
/// threads.
const BLOCK_ROWS: usize = 32;
/// Below this many logits the kernel runs on the calling thread: waking the pool's threads
/// costs about 30–40 µs on a 2-core VM, which a split of less work than this does not win back.
const PARALLEL_MIN_ELEMS: usize = 32 * 1024;

/// Computes the group-softmax loss into `loss` (length N for `Reduction::None`, else 1) and its
/// gradient into `grad`; `input` is `(N, K)` row-major.
pub fn group_softmax_loss<T: Real>(
    input: &[T],
    p: &GroupSoftmaxParams<'_, T>,
    loss: &mut [T],
    grad: &mut [T],
) -> Result<()> {
    let offsets = p.offsets;
    if offsets.len() < 2 || offsets[0] != 0 || offsets.windows(2).any(|w| w[1] <= w[0]) {
        return Err(CoreError::invalid(format!(
            "offsets should start at 0 and increase strictly (every group non-empty), but got offsets={offsets:?}"
        )));
    }
    let g_count = offsets.len() - 1;
    let k = offsets[g_count];
    if !input.len().is_multiple_of(k) || grad.len() != input.len() {
        return Err(CoreError::shape(format!(
            "input should have {k} columns (the groups' total), but got {} elements",
            input.len()
        )));
    }
    let n = input.len() / k;
    if p.targets.len() != n * g_count || p.weights.len() != n * g_count {
        return Err(CoreError::shape(format!(
            "targets and weights should have shape ({n}, {g_count})"
        )));
    }
    let want = if p.reduction == Reduction::None { n } else { 1 };
    if loss.len() != want {
        return Err(CoreError::shape(format!(
            "loss buffer should have {want} elements, but got {}",
            loss.len()
        )));
    }
    for (idx, &t) in p.targets.iter().enumerate() {
        let g = idx % g_count;
        let size = offsets[g + 1] - offsets[g];
        if t < 0 || t as usize >= size {
            return Err(CoreError::out_of_range(format!(
                "targets should lie in [0, {size}) for group {g}, but got {t} at row {}",
                idx / g_count
            )));
        }
    }
    let none = p.reduction == Reduction::None;
    let out = if none { Some(&mut *loss) } else { None };
    let work = GroupBlocks { p, k, g_count };
    let plan = BlockPlan {
        row_elems: k,
        out_per_row: 1,
        block_rows: BLOCK_ROWS,
        parallel_min_elems: PARALLEL_MIN_ELEMS,
        flush_denormals: false,
    };
    let blocks = run_blocks(input, grad, out, &plan, &work);
    if let Some(i) = blocks.iter().find_map(|b| b.1) {
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    if !none {
        // Block partials are summed in block order, so the result is thread-count free.
        loss[0] = T::from_f64(blocks.iter().map(|b| b.0).sum::<f64>());
    }
    Ok(())
}

/// One block of rows of the group-softmax kernel (see [`BlockWork`]).
struct GroupBlocks<'a, 'b, T> {
    p: &'a GroupSoftmaxParams<'b, T>,
    k: usize,
    g_count: usize,
}

impl<T: Real> BlockWork<T> for GroupBlocks<'_, '_, T> {
    type Out = (f64, Option<usize>);

    #[inline(always)]
    fn run(&self, r0: usize, zb: &[T], gb: &mut [T], mut ob: Option<&mut [T]>) -> Self::Out {
        let (p, k, g_count) = (self.p, self.k, self.g_count);
        let offsets = p.offsets;
        let (mut acc, mut nan_row) = (0.0f64, None);
        for (r, (z, g)) in zb.chunks(k).zip(gb.chunks_mut(k)).enumerate() {
            let i = r0 + r;
            let mut row = T::ZERO;
            for grp in 0..g_count {
                let (a, b) = (offsets[grp], offsets[grp + 1]);
                let w = p.weights[i * g_count + grp];
                let gs = &mut g[a..b];
                if w == T::ZERO {
                    gs.fill(T::ZERO);
                    continue;
                }
                let t = p.targets[i * g_count + grp] as usize;
                gs.copy_from_slice(&z[a..b]);
                let mx = max_lanes(gs);
                let s = exp_shift_sum(gs, mx);
                row = row + w * (s.ln() + mx - z[a + t]);
                let scale = w / s;
                for v in gs.iter_mut() {
                    *v = *v * scale;
                }
                gs[t] = gs[t] - w;
            }
            // Every logit of a row that enters the loss is checked, also those of skipped groups.
            let used = p.weights[i * g_count..(i + 1) * g_count]
                .iter()
                .any(|&w| w != T::ZERO);
            if used && nan_row.is_none() && z.iter().any(|v| v.is_nan()) {
                nan_row = Some(i);
            }
            match ob.as_deref_mut() {
                Some(o) => o[r] = row,
                None => acc += row.to_f64(),
            }
        }
        (acc, nan_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ce(z: &[f64], t: usize) -> f64 {
        let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln() - z[t]
    }

    #[test]
    fn sums_weighted_group_cross_entropies() {
        // Two groups: columns 0..3 and 3..5; two rows.
        let z = [0.1, 2.0, -1.0, 0.5, 0.3, 1.0, 1.0, 1.0, -2.0, 4.0];
        let targets = [1i64, 0, 0, 1];
        let weights = [0.5, 1.0, 0.0, 2.0];
        let p = GroupSoftmaxParams {
            offsets: &[0, 3, 5],
            targets: &targets,
            weights: &weights,
            reduction: Reduction::Sum,
        };
        let mut loss = [0.0];
        let mut grad = [0.0; 10];
        group_softmax_loss(&z, &p, &mut loss, &mut grad).unwrap();
        let want = 0.5 * ce(&z[0..3], 1) + ce(&z[3..5], 0) + 2.0 * ce(&z[8..10], 1);
        assert!((loss[0] - want).abs() < 1e-12);
        assert_eq!(&grad[5..8], &[0.0; 3]);
        assert!((grad[0..3].iter().sum::<f64>()).abs() < 1e-12);
        let bad = [3i64, 0, 0, 1];
        let p = GroupSoftmaxParams { targets: &bad, ..p };
        assert!(matches!(
            group_softmax_loss(&z, &p, &mut loss, &mut grad),
            Err(CoreError::OutOfRange(_))
        ));
    }
}
