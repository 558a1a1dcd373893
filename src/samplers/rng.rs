//! The only source of randomness of the samplers: xoshiro256** seeded through SplitMix64 from
//! `(seed, epoch, stream)`.
//!
//! There is no global state. Every rank that asks for the same `(seed, epoch)` gets the same
//! numbers, and a resumed run gets them again. A `stream` separates independent uses inside one
//! epoch (the class cycle, one class's own cycle, one chunk of parallel draws), so work split
//! into fixed chunks gives the same result whatever the number of threads.

/// The SplitMix64 finaliser: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Stream tags: the high 32 bits of a stream id say which part of which method draws from it,
/// the low 32 bits number the chunk or class.
pub mod tag {
    /// With-replacement draws of `WeightedSampler`, one stream per chunk of draws.
    pub const WEIGHTED: u64 = 1;
    /// Exponential keys of `WeightedSampler(replacement=False)`, one stream per chunk of weights.
    pub const WEIGHTED_KEYS: u64 = 2;
    /// Uniforms of the streaming inverse-CDF path of `WeightedSampler`.
    pub const WEIGHTED_STREAM: u64 = 3;
    /// i.i.d. class → instance draws, one stream per chunk of draws.
    pub const TWO_LEVEL: u64 = 4;
    /// The class cycle of class-aware sampling.
    pub const CLASS_CYCLE: u64 = 5;
    /// One class's own cycle in class-aware sampling, one stream per class.
    pub const CLASS_MEMBERS: u64 = 6;
    /// Duplicates or subsets of random over/under-sampling, one stream per class.
    pub const RESAMPLE: u64 = 7;
    /// Stochastic rounding of repeat factors, one stream per chunk of images.
    pub const REPEAT_ROUND: u64 = 8;
    /// The final shuffle of an epoch.
    pub const SHUFFLE: u64 = 9;
}

/// The stream id for item `index` (a chunk or a class) of a `tag`.
#[inline]
pub fn stream(tag: u64, index: u64) -> u64 {
    (tag << 40) ^ index
}

/// xoshiro256** (Blackman & Vigna 2018): fast, 256-bit state, passes BigCrush.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The generator for `(seed, epoch, stream)`: the three are hashed through SplitMix64, whose
    /// output then fills the state, as the xoshiro authors recommend.
    pub fn new(seed: u64, epoch: u64, stream: u64) -> Self {
        let mut h = mix64(seed.wrapping_add(GOLDEN));
        h = mix64(
            h ^ epoch
                .wrapping_mul(GOLDEN)
                .wrapping_add(0x632b_e59b_d9b4_e019),
        );
        h = mix64(
            h ^ stream
                .wrapping_mul(0xd1b5_4a32_d192_ed03)
                .wrapping_add(GOLDEN),
        );
        let mut sm = h;
        let mut next = || {
            sm = sm.wrapping_add(GOLDEN);
            mix64(sm)
        };
        let s = [next(), next(), next(), next()];
        // SplitMix64 outputs are a bijection of distinct counters, so four zeros cannot occur;
        // guard anyway since an all-zero state would be a fixed point.
        if s == [0; 4] {
            return Rng {
                s: [GOLDEN, 1, 2, 3],
            };
        }
        Rng { s }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform double in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform double in `(0, 1]`, safe to take the logarithm of.
    #[inline]
    pub fn next_f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`, unbiased (Lemire 2019, multiply and reject). `n` must be
    /// positive; callers only pass lengths they checked to be non-zero.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Shuffles `xs` in place (Fisher–Yates); every permutation is equally likely.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_stream_and_keys_differ() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(1, 2, 3);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(1, 2, 3);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        for (s, e, t) in [(2, 2, 3), (1, 3, 3), (1, 2, 4), (0, 0, 0)] {
            let mut r = Rng::new(s, e, t);
            assert_ne!(r.next_u64(), a[0]);
        }
    }

    #[test]
    fn seed_and_epoch_are_not_interchangeable() {
        assert_ne!(Rng::new(1, 2, 0).next_u64(), Rng::new(2, 1, 0).next_u64());
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(7, 0, 0);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        // Each count is Binomial(60000, 1/6): sd ≈ 91, so ±600 is > 6 sd.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 600, "{counts:?}");
        }
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn unit_doubles_are_in_their_intervals() {
        let mut r = Rng::new(0, 0, 0);
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            let y = r.next_f64_open0();
            assert!(y > 0.0 && y <= 1.0);
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut xs: Vec<u32> = (0..100).collect();
        Rng::new(3, 1, 0).shuffle(&mut xs);
        assert_ne!(xs, (0..100).collect::<Vec<_>>());
        xs.sort_unstable();
        assert_eq!(xs, (0..100).collect::<Vec<_>>());
    }
}
