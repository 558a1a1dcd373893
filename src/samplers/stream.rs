//! Lazy epochs: every sampler's epoch as a stream read in pieces, so memory stays O(chunk)
//! (plus the dataset-sized state the method needs) whatever the epoch's length.
//!
//! A [`Source`] writes the epoch's next indices; an [`EpochStream`] wraps it with the number of
//! indices left. Reading a stream to its end gives exactly the array the whole-epoch functions
//! return, piece sizes notwithstanding (tested per method).

use std::collections::TryReserveError;

use rayon::prelude::*;

use super::rng::{self, Rng};
use super::CHUNK;
use crate::error::{CoreError, Result};

/// The longest epoch a stream serves: positions are Python ints, and `len()` must hold them.
pub const MAX_EPOCH_LEN: u64 = i64::MAX as u64;

/// Checks an epoch length: at most `2**63 - 1`, so that `len(sampler)` is representable.
pub(crate) fn check_epoch_len(name: &str, len: u64) -> Result<u64> {
    if len > MAX_EPOCH_LEN {
        return Err(CoreError::invalid(format!(
            "{name} should be at most 2**63 - 1, but got {name}={len}"
        )));
    }
    Ok(len)
}

/// Writes an epoch's indices in order. `fill` is only asked for indices the epoch has.
pub(crate) trait Source: Send + Sync {
    /// Writes the next `out.len()` indices.
    fn fill(&mut self, out: &mut [i64]);

    /// Moves past the next `n` indices. By default this generates and drops them, a chunk at
    /// a time; sources with random access override it.
    fn skip(&mut self, mut n: u64) {
        let mut scratch = vec![0i64; CHUNK.min(usize::try_from(n).unwrap_or(CHUNK))];
        while n > 0 {
            let step = scratch.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.fill(&mut scratch[..step]);
            n -= step as u64;
        }
    }

    /// The rest of the epoch as a vector, where the source holds it already (no copy); None
    /// for sources that generate as they go.
    fn take_rest(&mut self) -> Option<Vec<i64>> {
        None
    }
}

/// One epoch, read front to back.
pub struct EpochStream {
    source: Box<dyn Source>,
    remaining: u64,
}

impl std::fmt::Debug for EpochStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochStream")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl EpochStream {
    pub(crate) fn new(source: Box<dyn Source>, len: u64) -> Self {
        EpochStream {
            source,
            remaining: len,
        }
    }

    /// Indices not yet read.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next `min(max, remaining)` indices. The buffer is reserved fallibly, so an absurd
    /// `max` is an error rather than an abort.
    pub fn read(&mut self, max: u64) -> std::result::Result<Vec<i64>, TryReserveError> {
        let n = max.min(self.remaining);
        if n == self.remaining {
            if let Some(rest) = self.source.take_rest() {
                self.remaining = 0;
                return Ok(rest);
            }
        }
        let mut out = try_zeroed(n)?;
        self.source.fill(&mut out);
        self.remaining -= n;
        Ok(out)
    }

    /// Skips the next `n` indices.
    pub fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.remaining {
            return Err(CoreError::out_of_range(format!(
                "n should be at most the {} indices left in the epoch, but got n={n}",
                self.remaining
            )));
        }
        self.source.skip(n);
        self.remaining -= n;
        Ok(())
    }

    /// The rest of the epoch as one array, reserved fallibly.
    pub fn into_vec(mut self) -> std::result::Result<Vec<i64>, TryReserveError> {
        self.read(self.remaining)
    }
}

/// A zeroed vector of `n` indices, or the allocator's refusal (never an abort).
pub fn try_zeroed(n: u64) -> std::result::Result<Vec<i64>, TryReserveError> {
    let mut out: Vec<i64> = Vec::new();
    // A length beyond usize asks for more than any allocator can give: let try_reserve say so.
    out.try_reserve_exact(usize::try_from(n).unwrap_or(usize::MAX))?;
    out.resize(n as usize, 0);
    Ok(out)
}

/// The whole-epoch helpers of the core return [`Result`]; a refused allocation names the size.
pub(crate) fn collect(stream: EpochStream) -> Result<Vec<i64>> {
    let n = stream.remaining();
    stream.into_vec().map_err(|_| {
        CoreError::invalid(format!(
            "the epoch should fit in memory, but got an epoch of {n} indices ({n} * 8 bytes)"
        ))
    })
}

/// A precomputed epoch (methods whose epoch is bounded by the dataset size anyway).
pub(crate) struct Precomputed {
    indices: Vec<i64>,
    pos: usize,
}

impl Precomputed {
    pub(crate) fn stream(indices: Vec<i64>) -> EpochStream {
        let len = indices.len() as u64;
        EpochStream::new(Box::new(Precomputed { indices, pos: 0 }), len)
    }
}

impl Source for Precomputed {
    fn fill(&mut self, out: &mut [i64]) {
        out.copy_from_slice(&self.indices[self.pos..self.pos + out.len()]);
        self.pos += out.len();
    }
    fn skip(&mut self, n: u64) {
        self.pos += n as usize;
    }
}

/// One i.i.d. draw of an index.
pub(crate) trait Draw: Send + Sync {
    fn draw(&self, rng: &mut Rng) -> i64;
}

/// i.i.d. draws in fixed chunks of [`CHUNK`]: chunk `k` draws from the stream
/// `(seed, epoch, stream(tag, k))`, so any position is reached without drawing the chunks
/// before it, and whole chunks fill in parallel with the same result.
pub(crate) struct ChunkedIid<D: Draw> {
    draw: D,
    seed: u64,
    epoch: u64,
    tag: u64,
    /// Global position of the next draw.
    pos: u64,
    /// The generator of chunk `pos / CHUNK` when `pos` is inside a chunk.
    rng: Rng,
}

impl<D: Draw + 'static> ChunkedIid<D> {
    pub(crate) fn stream(draw: D, len: u64, seed: u64, epoch: u64, tag: u64) -> EpochStream {
        let rng = Rng::new(seed, epoch, rng::stream(tag, 0));
        let source = ChunkedIid {
            draw,
            seed,
            epoch,
            tag,
            pos: 0,
            rng,
        };
        EpochStream::new(Box::new(source), len)
    }
}

impl<D: Draw> ChunkedIid<D> {
    fn chunk_rng(&self, chunk: u64) -> Rng {
        Rng::new(self.seed, self.epoch, rng::stream(self.tag, chunk))
    }
}

impl<D: Draw> Source for ChunkedIid<D> {
    fn fill(&mut self, out: &mut [i64]) {
        let chunk = CHUNK as u64;
        let mut i = 0;
        // The rest of the chunk under way.
        while i < out.len() && !self.pos.is_multiple_of(chunk) {
            out[i] = self.draw.draw(&mut self.rng);
            i += 1;
            self.pos += 1;
        }
        // Whole chunks, each from its own generator.
        let whole = (out.len() - i) / CHUNK * CHUNK;
        let first = self.pos / chunk;
        let this = &*self;
        let run = |(k, block): (usize, &mut [i64])| {
            let mut rng = this.chunk_rng(first + k as u64);
            for x in block.iter_mut() {
                *x = this.draw.draw(&mut rng);
            }
        };
        let middle = &mut out[i..i + whole];
        if whole > CHUNK && crate::parallel::enabled() {
            middle.par_chunks_mut(CHUNK).enumerate().for_each(run);
        } else {
            middle.chunks_mut(CHUNK).enumerate().for_each(run);
        }
        self.pos += whole as u64;
        i += whole;
        // The start of the next chunk.
        if i < out.len() {
            self.rng = self.chunk_rng(self.pos / chunk);
            for x in &mut out[i..] {
                *x = self.draw.draw(&mut self.rng);
            }
            self.pos += (out.len() - i) as u64;
        }
    }

    fn skip(&mut self, n: u64) {
        let chunk = CHUNK as u64;
        self.pos += n;
        let offset = self.pos % chunk;
        if offset != 0 {
            self.rng = self.chunk_rng(self.pos / chunk);
            for _ in 0..offset {
                self.draw.draw(&mut self.rng);
            }
        }
    }
}

/// A uniformly random arrangement of a multiset, drawn one element at a time in O(log K):
/// the next element is category `k` with probability `left_k / Σ left` (a Fenwick tree over the
/// counts left). This is exactly the law of shuffling the whole multiset, in O(K) memory.
pub(crate) struct MultisetShuffle {
    /// Fenwick tree (1-based) of the counts left.
    tree: Vec<u64>,
    top: usize,
    left: u64,
    rng: Rng,
}

impl MultisetShuffle {
    /// `counts` must sum to at most [`MAX_EPOCH_LEN`] (the callers check it).
    pub(crate) fn new(counts: &[u64], rng: Rng) -> Self {
        let k = counts.len();
        let mut tree = vec![0u64; k + 1];
        for (i, &c) in counts.iter().enumerate() {
            tree[i + 1] += c;
            let parent = (i + 1) + ((i + 1) & (i + 1).wrapping_neg());
            if parent <= k {
                tree[parent] += tree[i + 1];
            }
        }
        let top = if k == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - k.leading_zeros())
        };
        MultisetShuffle {
            tree,
            top,
            left: counts.iter().sum(),
            rng,
        }
    }

    /// The next category; only called while elements are left.
    pub(crate) fn next(&mut self) -> usize {
        let mut rest = self.rng.below(self.left);
        let k = self.tree.len() - 1;
        let mut pos = 0usize;
        let mut step = self.top;
        while step > 0 {
            if pos + step <= k && self.tree[pos + step] <= rest {
                pos += step;
                rest -= self.tree[pos];
            }
            step >>= 1;
        }
        // `pos` is the 0-based category whose cumulative range holds the uniform.
        let mut i = pos + 1;
        while i <= k {
            self.tree[i] -= 1;
            i += i & i.wrapping_neg();
        }
        self.left -= 1;
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter;
    impl Draw for Counter {
        fn draw(&self, rng: &mut Rng) -> i64 {
            rng.below(1 << 40) as i64
        }
    }

    fn read_all(mut s: EpochStream, piece: u64) -> Vec<i64> {
        let mut out = Vec::new();
        while s.remaining() > 0 {
            out.extend(s.read(piece).unwrap());
        }
        out
    }

    #[test]
    fn chunked_iid_reads_the_same_in_any_pieces_and_skips_exactly() {
        let len = 3 * CHUNK as u64 + 123;
        let whole = ChunkedIid::stream(Counter, len, 4, 2, 1)
            .into_vec()
            .unwrap();
        for piece in [1, 7, CHUNK as u64 - 1, CHUNK as u64 + 1, 5 * CHUNK as u64] {
            assert_eq!(
                read_all(ChunkedIid::stream(Counter, len, 4, 2, 1), piece),
                whole
            );
        }
        for start in [0, 1, CHUNK as u64, CHUNK as u64 + 9, len - 1, len] {
            let mut s = ChunkedIid::stream(Counter, len, 4, 2, 1);
            s.skip(start).unwrap();
            assert_eq!(read_all(s, 1000), whole[start as usize..]);
        }
        let mut s = ChunkedIid::stream(Counter, 10, 4, 2, 1);
        assert!(s.skip(11).is_err());
        assert_eq!(s.remaining(), 10);
    }

    #[test]
    fn chunked_iid_does_not_depend_on_parallelism() {
        let len = 4 * CHUNK as u64 + 17;
        let a = ChunkedIid::stream(Counter, len, 5, 1, 99)
            .into_vec()
            .unwrap();
        crate::parallel::set_enabled(false);
        let b = ChunkedIid::stream(Counter, len, 5, 1, 99)
            .into_vec()
            .unwrap();
        crate::parallel::set_enabled(true);
        assert_eq!(a, b);
    }

    #[test]
    fn huge_streams_start_promptly_and_refuse_huge_arrays() {
        let mut s = ChunkedIid::stream(Counter, MAX_EPOCH_LEN, 0, 0, 1);
        assert_eq!(s.read(5).unwrap().len(), 5);
        s.skip(1 << 62).unwrap();
        assert_eq!(s.read(3).unwrap().len(), 3);
        assert!(s.into_vec().is_err());
        assert!(try_zeroed(u64::MAX).is_err());
    }

    #[test]
    fn multiset_shuffle_is_an_arrangement_with_the_exact_law() {
        let counts = [3u64, 0, 1, 2];
        let mut seen = std::collections::HashMap::new();
        for e in 0..12_000 {
            let mut m = MultisetShuffle::new(&counts, Rng::new(1, e, 0));
            let seq: Vec<usize> = (0..6).map(|_| m.next()).collect();
            let mut per = [0u64; 4];
            for &c in &seq {
                per[c] += 1;
            }
            assert_eq!(per, counts);
            *seen.entry(seq).or_insert(0u32) += 1;
        }
        // 6! / (3! 1! 2!) = 60 arrangements, each with probability 1/60 (sd ≈ 14 of 200).
        assert_eq!(seen.len(), 60);
        for &hits in seen.values() {
            assert!((hits as i64 - 200).abs() < 100, "{seen:?}");
        }
    }
}
