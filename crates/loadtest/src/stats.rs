//! Latency percentiles.

use std::collections::BTreeMap;

/// Latencies per step, in milliseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(BTreeMap<String, Vec<f64>>);

/// p50/p95/p99 of one step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tail {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The `q`-quantile (0..=1) of `v` by the nearest-rank method; `None` when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

impl Latencies {
    /// Adds a sample.
    pub fn add(&mut self, step: &str, ms: f64) {
        self.0.entry(step.to_string()).or_default().push(ms);
    }

    /// Percentiles per step.
    pub fn tails(&self) -> BTreeMap<String, Tail> {
        self.0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let q = |p| quantile(v, p).unwrap_or_default();
                (
                    k.clone(),
                    Tail {
                        n: v.len(),
                        p50: q(0.50),
                        p95: q(0.95),
                        p99: q(0.99),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.95), Some(95.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
        let mut l = Latencies::default();
        for x in [3.0, 1.0, 2.0] {
            l.add("a", x);
        }
        let t = l.tails()["a"];
        assert_eq!((t.n, t.p50, t.p99), (3, 2.0, 3.0));
    }
}
