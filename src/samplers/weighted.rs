//! Index-level weighted sampling: the law of `torch.utils.data.WeightedRandomSampler`
//! (`torch.multinomial` with or without replacement), for any number of weights.

use rayon::prelude::*;

use super::alias::{check_weights, AliasTable};
use super::rng::{self, tag, Rng};
use super::stream::{check_epoch_len, collect, ChunkedIid, Draw, EpochStream, Precomputed};
use super::CHUNK;
use crate::error::{CoreError, Result};

/// `num_samples` indices drawn with probability `∝ weights`, as one array.
pub fn weighted_indices(
    weights: &[f64],
    num_samples: u64,
    replacement: bool,
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    collect(weighted_stream(
        weights,
        num_samples,
        replacement,
        seed,
        epoch,
    )?)
}

/// `num_samples` indices drawn with probability `∝ weights`, as a lazy epoch.
///
/// With replacement the draws are i.i.d. (alias method, O(1) per draw, in chunks of
/// [`CHUNK`]; when few draws are asked of many weights, one streaming inverse-CDF pass
/// instead, which needs no O(N) table). Without replacement each successive draw is
/// proportional to the remaining weights, as in `torch.multinomial(replacement=False)`; this
/// uses exponential keys (Efraimidis & Spirakis 2006): the smallest `-ln(U_i) / w_i`, in
/// increasing order. As torch does, zero weights come after every positive one (here in a
/// uniformly random order), so `num_samples` may reach `len(weights)`.
pub fn weighted_stream(
    weights: &[f64],
    num_samples: u64,
    replacement: bool,
    seed: u64,
    epoch: u64,
) -> Result<EpochStream> {
    let m = check_epoch_len("num_samples", num_samples)?;
    if m == 0 {
        return Err(CoreError::invalid(
            "num_samples should be a positive integer value, but got num_samples=0",
        ));
    }
    if replacement {
        // A table costs ~20 bytes per weight; a streaming pass costs a sort of the draws.
        if m.saturating_mul(16) < weights.len() as u64 {
            Ok(Precomputed::stream(streaming_with_replacement(
                weights, m as usize, seed, epoch,
            )?))
        } else {
            let table = AliasTable::new(weights, "weights")?;
            Ok(ChunkedIid::stream(
                WeightDraw(table),
                m,
                seed,
                epoch,
                tag::WEIGHTED,
            ))
        }
    } else {
        Ok(Precomputed::stream(without_replacement(
            weights, m, seed, epoch,
        )?))
    }
}

struct WeightDraw(AliasTable);

impl Draw for WeightDraw {
    #[inline]
    fn draw(&self, rng: &mut Rng) -> i64 {
        self.0.sample(rng) as i64
    }
}

/// Inverse-CDF sampling with one pass over the weights: sort the `m` uniforms, walk the
/// cumulative sum once, then put each index back at its uniform's original position.
fn streaming_with_replacement(
    weights: &[f64],
    m: usize,
    seed: u64,
    epoch: u64,
) -> Result<Vec<i64>> {
    let total = check_weights(weights, "weights")?;
    // Only reached with m < len(weights) / 16, so positions fit in u32 (the alias table
    // already limits weights to 2^32 entries).
    let mut rng = Rng::new(seed, epoch, rng::stream(tag::WEIGHTED_STREAM, 0));
    let mut targets: Vec<(f64, u64)> = (0..m).map(|j| (rng.next_f64() * total, j as u64)).collect();
    targets.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = vec![0i64; m];
    let mut t = 0usize;
    let mut cum = 0.0f64;
    let mut last_positive = 0usize;
    // The same summation order as `check_weights`, so the final `cum` equals `total` exactly.
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last_positive = i;
        }
        cum += w;
        while t < m && targets[t].0 < cum {
            out[targets[t].1 as usize] = i as i64;
            t += 1;
        }
    }
    // A uniform rounded up to exactly `total` lands in the last positive-weight category.
    for &(_, j) in &targets[t..] {
        out[j as usize] = last_positive as i64;
    }
    Ok(out)
}

/// `(key, index)` pairs; the smallest keys are drawn first.
type Keys = Vec<(f64, i64)>;

fn without_replacement(weights: &[f64], m: u64, seed: u64, epoch: u64) -> Result<Vec<i64>> {
    check_weights(weights, "weights")?;
    if m > weights.len() as u64 {
        return Err(CoreError::invalid(format!(
            "num_samples should be at most len(weights)={} when replacement=False, but got \
             num_samples={m}",
            weights.len()
        )));
    }
    let m = m as usize;
    let positive = weights.iter().filter(|&&w| w > 0.0).count();
    let zeros_wanted = m.saturating_sub(positive);
    // Per chunk of weights: keys from the chunk's own stream, keep the chunk's m smallest
    // positive keys and, when zero weights are reached, its smallest uniforms of zero weights.
    let chunk_keys = |(k, ws): (usize, &[f64])| -> (Keys, Keys) {
        let mut rng = Rng::new(seed, epoch, rng::stream(tag::WEIGHTED_KEYS, k as u64));
        let base = k * CHUNK;
        let mut keys: Vec<(f64, i64)> = Vec::with_capacity(ws.len().min(m.max(16)));
        let mut zeros: Vec<(f64, i64)> = Vec::new();
        for (i, &w) in ws.iter().enumerate() {
            // Draw for every weight, zero or not, so the stream layout is fixed.
            let u = rng.next_f64_open0();
            if w > 0.0 {
                keys.push((-u.ln() / w, (base + i) as i64));
            } else if zeros_wanted > 0 {
                zeros.push((u, (base + i) as i64));
            }
        }
        smallest(&mut keys, m);
        smallest(&mut zeros, zeros_wanted);
        (keys, zeros)
    };
    let parts: Vec<(Keys, Keys)> = if weights.len() > CHUNK && crate::parallel::enabled() {
        weights
            .par_chunks(CHUNK)
            .enumerate()
            .map(chunk_keys)
            .collect()
    } else {
        weights.chunks(CHUNK).enumerate().map(chunk_keys).collect()
    };
    let (mut keys, mut zeros): (Keys, Keys) = (Vec::new(), Vec::new());
    for (k, z) in parts {
        keys.extend(k);
        zeros.extend(z);
    }
    smallest(&mut keys, m);
    keys.sort_unstable_by(cmp_key);
    smallest(&mut zeros, zeros_wanted);
    zeros.sort_unstable_by(cmp_key);
    Ok(keys.into_iter().chain(zeros).map(|(_, i)| i).collect())
}

fn cmp_key(a: &(f64, i64), b: &(f64, i64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Keeps the `m` smallest keys (unordered).
fn smallest(keys: &mut Vec<(f64, i64)>, m: usize) {
    if keys.len() > m {
        keys.select_nth_unstable_by(m, cmp_key);
        keys.truncate(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(xs: &[i64], n: usize) -> Vec<u64> {
        let mut c = vec![0u64; n];
        for &x in xs {
            c[x as usize] += 1;
        }
        c
    }

    fn assert_close_to(counts: &[u64], probs: &[f64]) {
        let total: u64 = counts.iter().sum();
        for (c, p) in counts.iter().zip(probs) {
            let expect = total as f64 * p;
            let sd = (expect * (1.0 - p)).sqrt().max(1.0);
            assert!(
                (*c as f64 - expect).abs() < 6.0 * sd,
                "{counts:?} vs {probs:?}"
            );
        }
    }

    #[test]
    fn with_replacement_alias_and_streaming_follow_the_weights() {
        let w = [1.0, 0.0, 2.0, 5.0];
        let p = [0.125, 0.0, 0.25, 0.625];
        let many = weighted_indices(&w, 200_000, true, 1, 0).unwrap();
        assert_close_to(&counts(&many, 4), &p);
        // 10 draws over 1000 weights take the streaming path; repeat over epochs.
        let mut big = vec![0.0; 1000];
        big[..4].copy_from_slice(&w);
        let mut all = Vec::new();
        for e in 0..5000 {
            all.extend(weighted_indices(&big, 10, true, 1, e).unwrap());
        }
        assert!(all.iter().all(|&i| i < 4 && i != 1));
        assert_close_to(&counts(&all, 4), &p);
    }

    #[test]
    fn deterministic_per_seed_and_epoch() {
        let w: Vec<f64> = (1..=50).map(f64::from).collect();
        let a = weighted_indices(&w, 300_000, true, 3, 4).unwrap();
        assert_eq!(a, weighted_indices(&w, 300_000, true, 3, 4).unwrap());
        assert_ne!(a, weighted_indices(&w, 300_000, true, 3, 5).unwrap());
        assert_ne!(a, weighted_indices(&w, 300_000, true, 4, 4).unwrap());
        let b = weighted_indices(&w, 20, false, 3, 4).unwrap();
        assert_eq!(b, weighted_indices(&w, 20, false, 3, 4).unwrap());
        assert_ne!(b, weighted_indices(&w, 20, false, 3, 5).unwrap());
    }

    #[test]
    fn without_replacement_is_distinct_and_follows_successive_draws() {
        let w = [1.0, 2.0, 3.0, 0.0];
        let mut first = vec![0u64; 4];
        let mut second_given_first2 = vec![0u64; 4];
        for e in 0..60_000 {
            let s = weighted_indices(&w, 3, false, 0, e).unwrap();
            assert_eq!(s.len(), 3);
            assert!(!s.contains(&3));
            let mut d = s.clone();
            d.sort_unstable();
            assert_eq!(d, vec![0, 1, 2]);
            first[s[0] as usize] += 1;
            if s[0] == 2 {
                second_given_first2[s[1] as usize] += 1;
            }
        }
        assert_close_to(&first, &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 0.0]);
        assert_close_to(&second_given_first2, &[1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0]);
    }

    #[test]
    fn without_replacement_spans_chunks_and_is_thread_independent() {
        let w: Vec<f64> = (0..3 * CHUNK + 5).map(|i| 1.0 + (i % 7) as f64).collect();
        let a = weighted_indices(&w, 1000, false, 9, 0).unwrap();
        crate::parallel::set_enabled(false);
        let b = weighted_indices(&w, 1000, false, 9, 0).unwrap();
        crate::parallel::set_enabled(true);
        assert_eq!(a, b);
        let mut d = a.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 1000);
    }

    #[test]
    fn zero_weights_come_last_without_replacement() {
        let w = [0.0, 1.0, 0.0, 2.0, 0.0];
        let mut last = [0u32; 5];
        for e in 0..3000 {
            let s = weighted_indices(&w, 5, false, 0, e).unwrap();
            let mut head = s[..2].to_vec();
            head.sort_unstable();
            assert_eq!(head, vec![1, 3]);
            last[s[4] as usize] += 1;
        }
        // The zero weights follow in a uniformly random order (each last ~1000 times).
        for i in [0, 2, 4] {
            assert!((last[i] as i64 - 1000).abs() < 200, "{last:?}");
        }
    }

    #[test]
    fn streams_match_whole_epochs() {
        let w: Vec<f64> = (1..=50).map(f64::from).collect();
        let whole = weighted_indices(&w, 2 * CHUNK as u64 + 3, true, 3, 4).unwrap();
        let mut s = weighted_stream(&w, 2 * CHUNK as u64 + 3, true, 3, 4).unwrap();
        s.skip(CHUNK as u64 + 1).unwrap();
        assert_eq!(s.read(10).unwrap(), whole[CHUNK + 1..CHUNK + 11]);
        let mut huge = weighted_stream(&w, 1 << 62, true, 3, 4).unwrap();
        assert_eq!(huge.read(4).unwrap(), whole[..4]);
        assert!(weighted_stream(&w, 1 << 63, true, 3, 4).is_err());
    }

    #[test]
    fn rejects_bad_requests() {
        assert!(weighted_indices(&[1.0, 2.0], 0, true, 0, 0).is_err());
        let err = weighted_indices(&[1.0, 0.0], 3, false, 0, 0).unwrap_err();
        assert!(err.to_string().contains("len(weights)=2"));
        assert!(weighted_indices(&[0.0, 0.0], 1, true, 0, 0).is_err());
        assert!(weighted_indices(&[1.0; 100], 1, true, 0, 0).is_ok());
        assert!(weighted_indices(&[-1.0; 100], 1, true, 0, 0).is_err());
    }
}
