//! Walker's alias method with Vose's O(n) construction: O(1) per weighted draw, for any number
//! of categories (no 2^24 float32 limit: probabilities are kept in f64).

use super::rng::Rng;
use crate::error::{CoreError, Result};

/// An alias table over `n` categories. A draw picks a column uniformly, then keeps it with
/// probability `prob[i]` or takes `alias[i]`.
#[derive(Debug, Clone)]
pub struct AliasTable {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

/// Checks that `weights` can define a distribution: finite, non-negative, with a positive sum.
/// Returns the sum. `name` names the argument in messages.
pub fn check_weights(weights: &[f64], name: &str) -> Result<f64> {
    if weights.is_empty() {
        return Err(CoreError::invalid(format!(
            "{name} should be a non-empty sequence, but got 0 {name}"
        )));
    }
    let mut total = 0.0f64;
    for (i, &w) in weights.iter().enumerate() {
        if !(w >= 0.0 && w.is_finite()) {
            return Err(CoreError::invalid(format!(
                "{name} should be finite and non-negative, but got {name}[{i}]={w}"
            )));
        }
        total += w;
    }
    if !(total > 0.0 && total.is_finite()) {
        return Err(CoreError::invalid(format!(
            "{name} should have a positive, finite sum, but got sum({name})={total}"
        )));
    }
    Ok(total)
}

impl AliasTable {
    /// Builds the table in O(n) (Vose 1991). `name` names the weights in error messages.
    pub fn new(weights: &[f64], name: &str) -> Result<Self> {
        let total = check_weights(weights, name)?;
        let n = weights.len();
        if n > u32::MAX as usize {
            return Err(CoreError::invalid(format!(
                "{name} should have at most 2^32 - 1 entries, but got {n}"
            )));
        }
        let scale = n as f64 / total;
        let mut prob: Vec<f64> = weights.iter().map(|&w| w * scale).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        // One work array: "small" columns stacked from the front, "large" from the back.
        let mut work = vec![0u32; n];
        let (mut ns, mut nl) = (0usize, 0usize);
        for (i, &p) in prob.iter().enumerate() {
            if p < 1.0 {
                work[ns] = i as u32;
                ns += 1;
            } else {
                nl += 1;
                work[n - nl] = i as u32;
            }
        }
        while ns > 0 && nl > 0 {
            ns -= 1;
            let s = work[ns] as usize;
            let l = work[n - nl] as usize;
            alias[s] = l as u32;
            // Vose's update: the large column gives away what the small one lacks.
            prob[l] = (prob[l] + prob[s]) - 1.0;
            if prob[l] < 1.0 {
                nl -= 1;
                work[ns] = l as u32;
                ns += 1;
            }
        }
        // Whatever is left is 1 up to rounding; make it exactly 1 so those columns never alias.
        for &i in work[..ns].iter().chain(work[n - nl..].iter()) {
            prob[i as usize] = 1.0;
        }
        Ok(AliasTable { prob, alias })
    }

    /// The number of categories.
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// Whether the table is empty (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// One draw: category `i` with probability `w_i / Σ w`.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.next_f64() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    /// The exact probability the table assigns to each category (for tests and checks).
    pub fn probabilities(&self) -> Vec<f64> {
        let n = self.prob.len() as f64;
        let mut p: Vec<f64> = self.prob.iter().map(|&q| q / n).collect();
        for (i, &q) in self.prob.iter().enumerate() {
            p[self.alias[i] as usize] += (1.0 - q) / n;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_encodes_the_distribution_exactly() {
        let w = [1.0, 0.0, 3.0, 6.0, 0.5, 0.5];
        let t = AliasTable::new(&w, "weights").unwrap();
        let total: f64 = w.iter().sum();
        for (p, w) in t.probabilities().iter().zip(w) {
            assert!((p - w / total).abs() < 1e-15, "{p} vs {}", w / total);
        }
    }

    #[test]
    fn zero_weight_is_never_drawn_and_frequencies_match() {
        let w = [0.0, 1.0, 2.0, 0.0, 7.0];
        let t = AliasTable::new(&w, "weights").unwrap();
        let mut rng = Rng::new(0, 0, 0);
        let mut counts = [0u32; 5];
        let draws = 100_000;
        for _ in 0..draws {
            counts[t.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[3], 0);
        for (i, &wi) in w.iter().enumerate() {
            let expect = draws as f64 * wi / 10.0;
            let sd = (expect * (1.0 - wi / 10.0)).sqrt().max(1.0);
            assert!((counts[i] as f64 - expect).abs() < 6.0 * sd, "{counts:?}");
        }
    }

    #[test]
    fn rejects_bad_weights() {
        for w in [
            vec![],
            vec![0.0, 0.0],
            vec![1.0, -1.0],
            vec![f64::NAN],
            vec![f64::INFINITY],
        ] {
            assert!(matches!(
                AliasTable::new(&w, "weights"),
                Err(CoreError::InvalidArgument(_))
            ));
        }
        let err = AliasTable::new(&[1.0, -2.0], "weights").unwrap_err();
        assert!(err.to_string().contains("weights[1]=-2"));
    }
}
