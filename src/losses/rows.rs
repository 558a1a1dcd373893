//! The row-block driver shared by the detection-loss kernels: contiguous `(N, C)` logits, rows in
//! fixed-size blocks over rayon, one result per block returned in block order (so that the
//! caller's reductions do not depend on the number of threads).

use rayon::prelude::*;

use crate::parallel;

/// Runs `f(first_row, input_block, grad_block, out_block)` over blocks of `block_rows` rows of
/// `c` elements each. `out`, when given, holds `out_per_row` elements per row (per-row or
/// per-element losses of `reduction="none"`) and is split along with the rows. Returns one
/// `R` per block, in block order.
#[allow(clippy::type_complexity)]
pub(crate) fn for_row_blocks<T, R, F>(
    input: &[T],
    grad: &mut [T],
    out: Option<&mut [T]>,
    out_per_row: usize,
    c: usize,
    block_rows: usize,
    f: F,
) -> Vec<R>
where
    T: Send + Sync,
    R: Send,
    F: Fn(usize, &[T], &mut [T], Option<&mut [T]>) -> R + Sync + Send,
{
    // C = 0 rows are empty: iterate over the rows with no elements through the output only.
    let block_elems = (block_rows * c).max(1);
    let rows = input.len().checked_div(c).unwrap_or(0);
    let n_blocks = rows.div_ceil(block_rows);
    let par = parallel::enabled() && n_blocks > 1;
    match out {
        Some(out) => {
            let out_block = (block_rows * out_per_row).max(1);
            let work = |(b, ((g, z), o)): (usize, ((&mut [T], &[T]), &mut [T]))| {
                f(b * block_rows, z, g, Some(o))
            };
            if par {
                grad.par_chunks_mut(block_elems)
                    .zip(input.par_chunks(block_elems))
                    .zip(out.par_chunks_mut(out_block))
                    .enumerate()
                    .map(work)
                    .collect()
            } else {
                grad.chunks_mut(block_elems)
                    .zip(input.chunks(block_elems))
                    .zip(out.chunks_mut(out_block))
                    .enumerate()
                    .map(work)
                    .collect()
            }
        }
        None => {
            let work = |(b, (g, z)): (usize, (&mut [T], &[T]))| f(b * block_rows, z, g, None);
            if par {
                grad.par_chunks_mut(block_elems)
                    .zip(input.par_chunks(block_elems))
                    .enumerate()
                    .map(work)
                    .collect()
            } else {
                grad.chunks_mut(block_elems)
                    .zip(input.chunks(block_elems))
                    .enumerate()
                    .map(work)
                    .collect()
            }
        }
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

/// Sum of a row in 8 independent lanes (vectorises), accumulated in f64 afterwards by callers.
#[inline(always)]
pub(crate) fn sum_lanes<T: super::Real>(x: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let mut chunks = x.chunks_exact(8);
    for ch in &mut chunks {
        for k in 0..8 {
            lanes[k] = lanes[k] + ch[k];
        }
    }
    let s = chunks.remainder().iter().fold(T::ZERO, |acc, &v| acc + v);
    lanes.iter().fold(s, |acc, &v| acc + v)
}

/// The work on one block of rows, as a type (not a closure) so that [`run_blocks`] can compile
/// it twice: for the baseline target and, on x86-64, for AVX2 (8 f32 lanes instead of 4),
/// picked at run time. Implementations mark `run` `#[inline(always)]` (and so the row code it
/// calls), so that the whole block body is compiled inside the AVX2 function.
pub(crate) trait BlockWork<T>: Sync {
    type Out: Send;
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
    w: &W,
    r0: usize,
    z: &[T],
    g: &mut [T],
    o: Option<&mut [T]>,
) -> W::Out {
    w.run(r0, z, g, o)
}

/// [`for_row_blocks`] over a [`BlockWork`], with the AVX2 build of it when the CPU has AVX2.
pub(crate) fn run_blocks<T, W>(
    input: &[T],
    grad: &mut [T],
    out: Option<&mut [T]>,
    out_per_row: usize,
    c: usize,
    block_rows: usize,
    work: &W,
) -> Vec<W::Out>
where
    T: Send + Sync,
    W: BlockWork<T>,
{
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return for_row_blocks(
                input,
                grad,
                out,
                out_per_row,
                c,
                block_rows,
                |r0, z, g, o| {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    unsafe { run_avx2(work, r0, z, g, o) }
                },
            );
        }
    }
    for_row_blocks(
        input,
        grad,
        out,
        out_per_row,
        c,
        block_rows,
        |r0, z, g, o| work.run(r0, z, g, o),
    )
}
