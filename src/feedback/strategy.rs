//! The ML Feedback connector's sampling strategies: which model inputs are worth keeping.
//!
//! Comparisons follow the connector documentation's worked examples, which is what decides the
//! boundaries: LEAST_CONFIDENCE and MARGIN keep a sample whose value *equals* the threshold
//! (the prose says "falls below", the examples use ≤); ENTROPY is the plain natural-log entropy
//! (the prose says "normalized", but its example 1.03972 is −Σ p ln p un-normalised) and keeps
//! only values strictly above the threshold; RANDOM_SAMPLING keeps when U(0,1) < rate.
//!
//! Predictions are f64, as the connector saw them: Python floats parsed from the service's text
//! answer. [`from_f32`] makes that same value from an f32 probability.

/// `sampling-strategy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    /// No `sampling-strategy`: every sample is kept.
    All,
    /// `RANDOM_SAMPLING`: keep each sample with probability `rate`.
    RandomSampling {
        /// In 0..=1.
        rate: f64,
    },
    /// `LEAST_CONFIDENCE`: keep when the top probability is at most `threshold`.
    LeastConfidence {
        /// In 0..=1.
        threshold: f64,
    },
    /// `MARGIN`: keep when the top two probabilities differ by at most `threshold`.
    Margin {
        /// In 0..=1.
        threshold: f64,
    },
    /// `ENTROPY`: keep when the prediction's entropy is above `threshold`.
    Entropy {
        /// Non-negative, in nats.
        threshold: f64,
    },
}

impl Strategy {
    /// The connector's name for it (`None` for "keep all").
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Strategy::All => None,
            Strategy::RandomSampling { .. } => Some("RANDOM_SAMPLING"),
            Strategy::LeastConfidence { .. } => Some("LEAST_CONFIDENCE"),
            Strategy::Margin { .. } => Some("MARGIN"),
            Strategy::Entropy { .. } => Some("ENTROPY"),
        }
    }

    /// Whether to keep the sample with prediction `p`. `uniform` is asked for one U(0,1) draw,
    /// only by RANDOM_SAMPLING. An empty or non-finite prediction is kept by the
    /// prediction-based strategies: it is exactly the kind of case worth a look.
    pub fn keep(&self, p: &[f64], uniform: &mut dyn FnMut() -> f64) -> bool {
        let bad = p.is_empty() || p.iter().any(|x| !x.is_finite());
        match *self {
            Strategy::All => true,
            Strategy::RandomSampling { rate } => uniform() < rate,
            _ if bad => true,
            Strategy::LeastConfidence { threshold } => max(p) <= threshold,
            Strategy::Margin { threshold } => margin(p) <= threshold,
            Strategy::Entropy { threshold } => entropy(p) > threshold,
        }
    }
}

/// The f64 the connector's Python code saw for an f32 probability: the shortest decimal that
/// reads back as the f32 (the service's text answer), parsed as a double. So 0.4f32 becomes 0.4,
/// not 0.4000000059604645, and a prediction equal to a threshold compares equal.
pub fn from_f32(p: f32) -> f64 {
    if !p.is_finite() {
        return p as f64;
    }
    format!("{p}").parse::<f64>().unwrap_or(p as f64)
}

/// `max_i p_i`.
pub fn max(p: &[f64]) -> f64 {
    p.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// `p_(1) − p_(2)`: the two highest after sorting (the highest alone when there is one class).
pub fn margin(p: &[f64]) -> f64 {
    let (mut a, mut b) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for &x in p {
        if x > a {
            b = a;
            a = x;
        } else if x > b {
            b = x;
        }
    }
    if b == f64::NEG_INFINITY {
        a
    } else {
        a - b
    }
}

/// `−Σ p_i ln p_i` (natural log, not normalised; 0 ln 0 = 0, negative values contribute 0).
pub fn entropy(p: &[f64]) -> f64 {
    // Summed in order, as Python's loop/sum would: the boundary tests depend on the exact value.
    let s: f64 = p.iter().filter(|&&x| x > 0.0).map(|&x| x * x.ln()).sum();
    -s
}

/// A small seedable generator (SplitMix64, Steele/Lea/Flood 2014): enough for sampling, and the
/// same sequence for the same seed, so tests can predict RANDOM_SAMPLING.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed` (the same sequence for the same seed).
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// Seeded from the OS (`/dev/urandom`), or from the clock and the process id without one.
    pub fn from_os() -> SplitMix64 {
        let mut b = [0u8; 8];
        let seed = match super::ids::read_urandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                t ^ (u64::from(std::process::id()) << 32)
            }
        };
        SplitMix64::new(seed)
    }

    /// The next value of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// U[0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> impl FnMut() -> f64 {
        || panic!("only RANDOM_SAMPLING draws")
    }

    #[test]
    fn least_confidence_doc_example_and_boundary() {
        // Doc: threshold .6, [.2,.2,.4,.2] → max .4 ≤ .6 → upload.
        let p = [0.2, 0.2, 0.4, 0.2];
        assert!(Strategy::LeastConfidence { threshold: 0.6 }.keep(&p, &mut never()));
        // Equal to the threshold: kept (the example's ≤).
        assert!(Strategy::LeastConfidence { threshold: 0.4 }.keep(&p, &mut never()));
        assert!(!Strategy::LeastConfidence { threshold: 0.39 }.keep(&p, &mut never()));
        // The same boundary from f32 probabilities, as a service produces them.
        let p32: Vec<f64> = [0.2f32, 0.2, 0.4, 0.2]
            .iter()
            .map(|&x| from_f32(x))
            .collect();
        assert_eq!(p32, p);
        assert!(Strategy::LeastConfidence { threshold: 0.4 }.keep(&p32, &mut never()));
    }

    #[test]
    fn margin_doc_example_and_boundary() {
        // Doc: threshold .02, [.3,.35,.34,.01] → .35 − .34 = .01 ≤ .02 → upload.
        let p = [0.3, 0.35, 0.34, 0.01];
        assert!((margin(&p) - 0.01).abs() < 1e-12);
        assert!(Strategy::Margin { threshold: 0.02 }.keep(&p, &mut never()));
        assert!(!Strategy::Margin { threshold: 0.005 }.keep(&p, &mut never()));
        // Exactly representable boundary: .5 − .25 = .25 == threshold → kept.
        let q = [0.25, 0.5, 0.25];
        assert_eq!(margin(&q), 0.25);
        assert!(Strategy::Margin { threshold: 0.25 }.keep(&q, &mut never()));
        assert!(!Strategy::Margin { threshold: 0.2499 }.keep(&q, &mut never()));
        // Ties at the top: margin 0.
        assert_eq!(margin(&[0.4, 0.4, 0.2]), 0.0);
        assert_eq!(margin(&[0.7]), 0.7);
    }

    #[test]
    fn entropy_doc_example_and_boundary() {
        // Doc: threshold .75, [.5,.25,.25] → 1.03972 > .75 → upload (natural log, un-normalised).
        let p = [0.5, 0.25, 0.25];
        let h = entropy(&p);
        assert!((h - 1.03972).abs() < 5e-6, "{h}");
        assert!((h - 1.5 * std::f64::consts::LN_2).abs() < 1e-15, "{h}");
        assert!(Strategy::Entropy { threshold: 0.75 }.keep(&p, &mut never()));
        // Normalised (0.9464) or in bits (1.5) it would be something else: not what the doc computes.
        assert!(!Strategy::Entropy { threshold: 1.04 }.keep(&p, &mut never()));
        // Equal to the threshold: not kept (strictly greater). [.5,.5] → ln 2 exactly.
        let q = [0.5, 0.5];
        assert_eq!(entropy(&q), std::f64::consts::LN_2);
        assert!(!Strategy::Entropy {
            threshold: std::f64::consts::LN_2
        }
        .keep(&q, &mut never()));
        assert!(Strategy::Entropy { threshold: 0.693 }.keep(&q, &mut never()));
        // A certain prediction has no entropy; zeros contribute 0 (not NaN).
        assert_eq!(entropy(&[1.0, 0.0, 0.0]), 0.0);
        assert!(!Strategy::Entropy { threshold: 0.0 }.keep(&[1.0, 0.0], &mut never()));
    }

    #[test]
    fn random_sampling_is_u_below_rate() {
        let s = Strategy::RandomSampling { rate: 0.25 };
        assert!(!s.keep(&[], &mut || 0.25), "U == rate is not kept");
        assert!(s.keep(&[], &mut || 0.249_999));
        assert!(!Strategy::RandomSampling { rate: 0.0 }.keep(&[], &mut || 0.0));
        assert!(Strategy::RandomSampling { rate: 1.0 }.keep(&[], &mut || 0.999_999_999));
    }

    #[test]
    fn splitmix64_reference_sequence_and_rate() {
        // Reference values of SplitMix64 for seed 1234567 (Vigna's splitmix64.c), recomputed by
        // hand-written Python for this test.
        let mut r = SplitMix64::new(1_234_567);
        let want: [u64; 5] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
        // 10000 draws at rate .3: the count is within 4 sigma (sigma = 45.8) of 3000, and is the
        // same for the same seed.
        let count = |seed| {
            let mut r = SplitMix64::new(seed);
            let s = Strategy::RandomSampling { rate: 0.3 };
            (0..10_000)
                .filter(|_| s.keep(&[], &mut || r.next_f64()))
                .count()
        };
        let n = count(42);
        assert!((2817..=3183).contains(&n), "{n}");
        assert_eq!(n, count(42));
        let mut r = SplitMix64::new(7);
        assert!((0..1000)
            .map(|_| r.next_f64())
            .all(|u| (0.0..1.0).contains(&u)));
    }

    #[test]
    fn degenerate_predictions_are_kept_by_prediction_strategies() {
        for s in [
            Strategy::LeastConfidence { threshold: 0.0 },
            Strategy::Margin { threshold: 0.0 },
            Strategy::Entropy { threshold: 100.0 },
        ] {
            assert!(s.keep(&[], &mut never()), "{s:?}");
            assert!(s.keep(&[f64::NAN, 0.5], &mut never()), "{s:?}");
        }
    }
}
