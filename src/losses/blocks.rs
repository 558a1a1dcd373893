//! The one row-block driver of every loss kernel.
//!
//! The logits are cut into blocks of a fixed number of rows, fixed by the shape alone; rayon
//! runs the blocks, and each returns one partial result, collected in block order. The caller
//! sums the partials in that order, so a loss does not depend on the number of threads (nor on
//! whether the pool is used at all). Each block body is compiled twice, for baseline x86-64 and
//! for AVX2+FMA, and the second is picked at run time where the CPU has it: the wheel targets
//! baseline x86-64, whose 4-lane SSE2 halves the throughput of the `exp` passes.

use rayon::prelude::*;

use super::lanes::FlushDenormals;
use crate::parallel;

/// How a kernel's data is cut into blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockPlan {
    /// Elements of `input` (and of `grad`) per row: C for an `(N, C)` kernel, or a whole
    /// `(C, D)` sample when the classes are strided.
    pub row_elems: usize,
    /// Elements of `out` per row, when an `out` buffer is given.
    pub out_per_row: usize,
    /// Rows per block (at least 1).
    pub block_rows: usize,
    /// Inputs with fewer elements than this run on the calling thread: waking the pool would
    /// cost more than it saves.
    pub parallel_min_elems: usize,
    /// Sets flush-to-zero / denormals-are-zero while a block runs (see [`FlushDenormals`]).
    pub flush_denormals: bool,
}

/// The work on one block of rows, as a type (not a closure) so that [`run_blocks`] can compile
/// it twice. Implementations mark `run` `#[inline(always)]` (and so the row code it calls), so
/// that the whole block body is compiled inside the AVX2 function.
pub(crate) trait BlockWork<T>: Sync {
    type Out: Send;
    /// Runs rows `first_row..first_row + input.len() / row_elems`: `input` and `grad` hold
    /// those rows, `out` (when given) their `out_per_row` elements each.
    fn run(
        &self,
        first_row: usize,
        input: &[T],
        grad: &mut [T],
        out: Option<&mut [T]>,
    ) -> Self::Out;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T, W: BlockWork<T>>(
    work: &W,
    first_row: usize,
    input: &[T],
    grad: &mut [T],
    out: Option<&mut [T]>,
) -> W::Out {
    work.run(first_row, input, grad, out)
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A block's index with its gradient, input and output slices, as the zipped chunks yield them.
type BlockSlices<'s, T> = (usize, ((&'s mut [T], &'s [T]), &'s mut [T]));

/// Runs `work` over the blocks of `plan` and returns one result per block, in block order.
/// `input` holds whole rows (`grad` the same number of elements, `out` `out_per_row` per row);
/// an empty input gives no block.
pub(crate) fn run_blocks<T, W>(
    input: &[T],
    grad: &mut [T],
    out: Option<&mut [T]>,
    plan: &BlockPlan,
    work: &W,
) -> Vec<W::Out>
where
    T: Send + Sync,
    W: BlockWork<T>,
{
    let rows = input.len().checked_div(plan.row_elems).unwrap_or(0);
    debug_assert_eq!(rows * plan.row_elems, input.len());
    debug_assert_eq!(grad.len(), input.len());
    if rows == 0 {
        return Vec::new();
    }
    let block_rows = plan.block_rows.max(1);
    let block_elems = block_rows * plan.row_elems;
    let n_blocks = rows.div_ceil(block_rows);
    let avx2 = has_avx2_fma();
    let block = |b: usize, z: &[T], g: &mut [T], o: Option<&mut [T]>| -> W::Out {
        let _flush = plan.flush_denormals.then(FlushDenormals::new);
        let first_row = b * block_rows;
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (checked by `has_avx2_fma`).
            return unsafe { run_avx2(work, first_row, z, g, o) };
        }
        let _ = avx2;
        work.run(first_row, z, g, o)
    };
    let par = n_blocks > 1 && input.len() >= plan.parallel_min_elems && parallel::enabled();
    match out {
        Some(out) if plan.out_per_row > 0 => {
            debug_assert_eq!(out.len(), rows * plan.out_per_row);
            let out_elems = block_rows * plan.out_per_row;
            let each = |(b, ((g, z), o)): BlockSlices<'_, T>| block(b, z, g, Some(o));
            if par {
                grad.par_chunks_mut(block_elems)
                    .zip(input.par_chunks(block_elems))
                    .zip(out.par_chunks_mut(out_elems))
                    .enumerate()
                    .map(each)
                    .collect()
            } else {
                grad.chunks_mut(block_elems)
                    .zip(input.chunks(block_elems))
                    .zip(out.chunks_mut(out_elems))
                    .enumerate()
                    .map(each)
                    .collect()
            }
        }
        _ => {
            let each = |(b, (g, z)): (usize, (&mut [T], &[T]))| block(b, z, g, None);
            if par {
                grad.par_chunks_mut(block_elems)
                    .zip(input.par_chunks(block_elems))
                    .enumerate()
                    .map(each)
                    .collect()
            } else {
                grad.chunks_mut(block_elems)
                    .zip(input.chunks(block_elems))
                    .enumerate()
                    .map(each)
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records which rows each block saw, writes `2·x` into the gradient and the row sum into
    /// `out`, and returns the block's sum.
    struct Probe {
        row_elems: usize,
    }

    impl BlockWork<f64> for Probe {
        type Out = (usize, usize, f64);
        fn run(
            &self,
            first_row: usize,
            input: &[f64],
            grad: &mut [f64],
            out: Option<&mut [f64]>,
        ) -> Self::Out {
            let rows = input.len() / self.row_elems;
            for (g, &x) in grad.iter_mut().zip(input) {
                *g = 2.0 * x;
            }
            if let Some(o) = out {
                assert_eq!(o.len(), rows);
                for (k, v) in o.iter_mut().enumerate() {
                    *v = input[k * self.row_elems..(k + 1) * self.row_elems]
                        .iter()
                        .sum();
                }
            }
            (first_row, rows, input.iter().sum())
        }
    }

    fn plan(row_elems: usize, block_rows: usize) -> BlockPlan {
        BlockPlan {
            row_elems,
            out_per_row: 1,
            block_rows,
            parallel_min_elems: 0,
            flush_denormals: false,
        }
    }

    fn data(len: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7919) % 1013) as f64 * 1e-3 + 1e-9 * i as f64)
            .collect()
    }

    #[test]
    fn block_boundaries_cover_every_row_once_in_order() {
        // 10 rows of 3 in blocks of 4: rows 0..4, 4..8, 8..10.
        let input = data(30);
        let mut grad = vec![0.0; 30];
        let mut out = vec![f64::NAN; 10];
        let blocks = run_blocks(
            &input,
            &mut grad,
            Some(&mut out),
            &plan(3, 4),
            &Probe { row_elems: 3 },
        );
        let spans: Vec<(usize, usize)> = blocks.iter().map(|b| (b.0, b.1)).collect();
        assert_eq!(spans, vec![(0, 4), (4, 4), (8, 2)]);
        for (g, x) in grad.iter().zip(&input) {
            assert_eq!(*g, 2.0 * x);
        }
        for (r, o) in out.iter().enumerate() {
            assert_eq!(*o, input[3 * r..3 * r + 3].iter().sum::<f64>());
        }
        // A block size that divides the rows exactly, and one larger than all of them.
        let b = run_blocks(
            &input,
            &mut grad,
            None,
            &plan(3, 5),
            &Probe { row_elems: 3 },
        );
        assert_eq!(
            b.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
            vec![(0, 5), (5, 5)]
        );
        let b = run_blocks(
            &input,
            &mut grad,
            None,
            &plan(3, 64),
            &Probe { row_elems: 3 },
        );
        assert_eq!(
            b.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
            vec![(0, 10)]
        );
        // block_rows = 0 is read as 1.
        let b = run_blocks(
            &input,
            &mut grad,
            None,
            &plan(3, 0),
            &Probe { row_elems: 3 },
        );
        assert_eq!(b.len(), 10);
    }

    #[test]
    fn empty_input_gives_no_block() {
        let mut grad: Vec<f64> = Vec::new();
        let mut out: Vec<f64> = Vec::new();
        let b = run_blocks(
            &[],
            &mut grad,
            Some(&mut out),
            &plan(3, 4),
            &Probe { row_elems: 3 },
        );
        assert!(b.is_empty());
        // Rows of no element (C = 0) are no rows either.
        let b = run_blocks(&[], &mut grad, None, &plan(0, 4), &Probe { row_elems: 1 });
        assert!(b.is_empty());
    }

    #[test]
    fn results_are_identical_for_one_thread_and_many() {
        let (rows, c) = (5000, 7);
        let input = data(rows * c);
        let p = plan(c, 64);
        let run_in = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut grad = vec![0.0; rows * c];
                let mut out = vec![0.0; rows];
                let blocks = run_blocks(
                    &input,
                    &mut grad,
                    Some(&mut out),
                    &p,
                    &Probe { row_elems: c },
                );
                let total: f64 = blocks.iter().map(|b| b.2).sum();
                (total.to_bits(), grad, out)
            })
        };
        let one = run_in(1);
        for threads in [2, 3, 8] {
            assert_eq!(run_in(threads), one, "threads={threads}");
        }
        // The serial path (pool switched off, as in a forked child) gives the same bits too.
        let serial = BlockPlan {
            parallel_min_elems: usize::MAX,
            ..p
        };
        let mut grad = vec![0.0; rows * c];
        let mut out = vec![0.0; rows];
        let blocks = run_blocks(
            &input,
            &mut grad,
            Some(&mut out),
            &serial,
            &Probe { row_elems: c },
        );
        let total: f64 = blocks.iter().map(|b| b.2).sum();
        assert_eq!((total.to_bits(), grad, out), one);
    }

    /// Writes `out_per_row` values per row that name the row (`10·row + j`), and returns the
    /// block's span, whether it got an `out` buffer, and the thread it ran on.
    struct RowProbe {
        row_elems: usize,
        out_per_row: usize,
    }

    impl BlockWork<f64> for RowProbe {
        type Out = (usize, usize, bool, std::thread::ThreadId);
        fn run(
            &self,
            first_row: usize,
            input: &[f64],
            grad: &mut [f64],
            out: Option<&mut [f64]>,
        ) -> Self::Out {
            let rows = input.len() / self.row_elems;
            assert_eq!(grad.len(), input.len());
            for (g, &x) in grad.iter_mut().zip(input) {
                *g = x + 1.0;
            }
            let got_out = out.is_some();
            if let Some(o) = out {
                assert_eq!(o.len(), rows * self.out_per_row);
                for (k, row) in o.chunks_mut(self.out_per_row).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = (10 * (first_row + k) + j) as f64;
                    }
                }
            }
            (first_row, rows, got_out, std::thread::current().id())
        }
    }

    fn row_plan(row_elems: usize, out_per_row: usize, block_rows: usize) -> BlockPlan {
        BlockPlan {
            row_elems,
            out_per_row,
            block_rows,
            parallel_min_elems: 0,
            flush_denormals: false,
        }
    }

    /// Runs a [`RowProbe`] and checks that every row was seen once, in order, with its own
    /// gradient and output rows; returns the blocks.
    fn run_probe(
        rows: usize,
        row_elems: usize,
        out_per_row: usize,
        plan: &BlockPlan,
    ) -> Vec<(usize, usize, bool, std::thread::ThreadId)> {
        let input = data(rows * row_elems);
        let mut grad = vec![f64::NAN; input.len()];
        let mut out = vec![f64::NAN; rows * out_per_row];
        let work = RowProbe {
            row_elems,
            out_per_row,
        };
        let blocks = run_blocks(&input, &mut grad, Some(&mut out), plan, &work);
        let mut next = 0;
        for &(first, len, got_out, _) in &blocks {
            assert_eq!(first, next, "blocks in order, none skipped");
            assert!(len >= 1 && len <= plan.block_rows.max(1));
            assert_eq!(got_out, out_per_row > 0);
            next += len;
        }
        assert_eq!(next, rows, "every row once");
        for (g, x) in grad.iter().zip(&input) {
            assert_eq!(*g, x + 1.0);
        }
        for (k, v) in out.iter().enumerate() {
            assert_eq!(
                *v,
                (10 * (k / out_per_row) + k % out_per_row) as f64,
                "out[{k}]"
            );
        }
        blocks
    }

    #[test]
    fn one_row_is_one_block() {
        for block_rows in [0, 1, 4] {
            for out_per_row in [0, 1, 3] {
                let blocks = run_probe(1, 5, out_per_row, &row_plan(5, out_per_row, block_rows));
                assert_eq!(blocks.len(), 1);
                assert_eq!((blocks[0].0, blocks[0].1), (0, 1));
            }
        }
    }

    /// Several outputs per row (the sigmoid kernel's C, the objectness form's 2) stay with
    /// their rows across block boundaries, also in a last, partial block; without outputs per
    /// row the work gets no `out` buffer at all.
    #[test]
    fn outputs_per_row_follow_their_rows_across_blocks() {
        for (rows, block_rows) in [(11, 4), (12, 4), (3, 4), (64, 64), (65, 64), (1000, 7)] {
            for out_per_row in [0, 1, 2, 5] {
                let plan = row_plan(3, out_per_row, block_rows);
                let blocks = run_probe(rows, 3, out_per_row, &plan);
                assert_eq!(blocks.len(), rows.div_ceil(block_rows));
                assert_eq!(
                    blocks.last().unwrap().1,
                    rows - (blocks.len() - 1) * block_rows
                );
            }
        }
    }

    /// An input below `parallel_min_elems`, or of one block, runs on the calling thread; the
    /// pool, when used, gives the same blocks, gradient and outputs.
    #[test]
    fn small_inputs_stay_on_the_calling_thread_and_parallel_agrees_with_serial() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        pool.install(|| {
            let me = std::thread::current().id();
            let serial = BlockPlan {
                parallel_min_elems: 1001 * 3 + 1,
                ..row_plan(3, 2, 16)
            };
            let blocks = run_probe(1001, 3, 2, &serial);
            assert!(blocks.iter().all(|b| b.3 == me), "below the threshold");
            let one_block = run_probe(10, 3, 2, &row_plan(3, 2, 16));
            assert_eq!(one_block.len(), 1);
            assert_eq!(one_block[0].3, me, "a single block");
            // At the threshold the pool may be used: the same spans (the checks of run_probe
            // cover gradient and outputs).
            let parallel = BlockPlan {
                parallel_min_elems: 1001 * 3,
                ..serial
            };
            let spans = |b: &[(usize, usize, bool, std::thread::ThreadId)]| {
                b.iter().map(|b| (b.0, b.1, b.2)).collect::<Vec<_>>()
            };
            assert_eq!(spans(&run_probe(1001, 3, 2, &parallel)), spans(&blocks));
        });
    }

    #[test]
    fn flush_denormals_applies_inside_blocks_only() {
        struct Halve;
        impl BlockWork<f32> for Halve {
            type Out = f32;
            fn run(&self, _: usize, input: &[f32], grad: &mut [f32], _: Option<&mut [f32]>) -> f32 {
                for (g, &x) in grad.iter_mut().zip(input) {
                    *g = std::hint::black_box(x) * 0.5;
                }
                grad[0]
            }
        }
        let input = [1e-38f32; 4];
        let mut grad = [0.0f32; 4];
        let p = BlockPlan {
            row_elems: 2,
            out_per_row: 0,
            block_rows: 1,
            parallel_min_elems: usize::MAX,
            flush_denormals: true,
        };
        let flushed = run_blocks(&input, &mut grad, None, &p, &Halve);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(flushed, vec![0.0, 0.0]);
        }
        let kept = run_blocks(
            &input,
            &mut grad,
            None,
            &BlockPlan {
                flush_denormals: false,
                ..p
            },
            &Halve,
        );
        assert_eq!(kept, vec![5e-39, 5e-39]);
    }

    /// The kernels on top of the driver: the same bits in a pool of 1 thread and of 4, for a
    /// shape of many blocks (softmax: 3000 rows of 40 is 8 blocks; sigmoid: 24 blocks).
    #[test]
    fn kernels_give_the_same_bits_for_any_thread_count() {
        use crate::losses::sigmoid::{sigmoid_loss, SigmoidLossParams, SigmoidTarget};
        use crate::losses::softmax::{softmax_loss, SoftmaxLossParams};
        use crate::losses::Layout;

        let (n, c) = (3000, 40);
        let input: Vec<f32> = data(n * c)
            .iter()
            .map(|&v| (v * 8.0 - 4.0) as f32)
            .collect();
        let labels: Vec<i64> = (0..n).map(|i| (i * 7 % (c + 1)) as i64).collect();
        let softmax_labels: Vec<i64> = labels.iter().map(|&y| y % c as i64).collect();
        let run_in = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let p = SoftmaxLossParams {
                    gamma: 2.0,
                    ..SoftmaxLossParams::cross_entropy()
                };
                let (mut l1, mut g1) = ([0.0f32], vec![0.0f32; n * c]);
                let layout = Layout { n, c, d: 1 };
                softmax_loss(&input, &softmax_labels, layout, &p, &mut l1, &mut g1).unwrap();
                let (mut l2, mut g2, mut st) = ([0.0f32], vec![0.0f32; n * c], vec![0.0f32; 2 * c]);
                let target = SigmoidTarget::Labels {
                    labels: &labels,
                    num_labels: c + 1,
                    ignore_index: -100,
                };
                let p = SigmoidLossParams::<f32>::bce();
                sigmoid_loss(&input, target, c, &p, &mut l2, &mut g2, Some(&mut st)).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (bits(&l1), bits(&g1), bits(&l2), bits(&g2), bits(&st))
            })
        };
        assert_eq!(run_in(4), run_in(1));
    }
}
