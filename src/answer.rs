//! The connector's answer: `[p0,p1,...]`, brackets, commas, no spaces, each value the shortest
//! decimal that reads back as the same f32 (Rust's `Display` for f32 is exactly that).

use std::fmt::Write;

/// Format probabilities as the connector's response body.
pub fn connector_body(probs: &[f32]) -> String {
    let mut s = String::with_capacity(probs.len() * 12 + 2);
    s.push('[');
    for (i, p) in probs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_f32(&mut s, *p);
    }
    s.push(']');
    s
}

/// The shortest round-tripping decimal; exponent form for very small or large magnitudes so
/// that e.g. 1e-30 is not written as 31 zeros (Python's `float()` and numpy read both forms).
fn write_f32(s: &mut String, v: f32) {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-5..1e16).contains(&a) {
        let _ = write!(s, "{v:e}");
    } else {
        let _ = write!(s, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_compact_and_round_trips() {
        assert_eq!(connector_body(&[0.3, 0.1, 0.04]), "[0.3,0.1,0.04]");
        assert_eq!(connector_body(&[]), "[]");
        assert_eq!(connector_body(&[1.0, 0.0]), "[1,0]");
        assert_eq!(connector_body(&[1e-30]), "[1e-30]");
        let vals = [
            0.1f32,
            1.0 / 3.0,
            2.5e-7,
            0.99999994,
            f32::MIN_POSITIVE,
            1.4e-45,
        ];
        let body = connector_body(&vals);
        let back: Vec<f32> = body[1..body.len() - 1]
            .split(',')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(back, vals);
    }
}
