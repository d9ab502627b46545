//! The SDK's one naming rule, shared by the service's parameters (`LocalInferenceServiceName`,
//! `MLFeedbackConnectorConfigId`), the SDK's `AlgoType` and ML Feedback's config ids.

/// The rule as a literal, for `concat!` in constant tables.
macro_rules! service_name_rule {
    () => {
        "^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$"
    };
}
pub(crate) use service_name_rule;

/// The rule as the SDK's messages write it.
pub const SERVICE_NAME_RULE: &str = service_name_rule!();

/// Whether `s` matches [`SERVICE_NAME_RULE`]: 2..=63 ASCII letters, digits and dashes, starting
/// with a letter or digit (no underscore).
pub fn is_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_sdk_rule() {
        // Hand-checked against the rule: lengths 2 and 63 are the bounds, no underscore, no
        // leading dash.
        for ok in ["ab", "a-", "A9-b", &"x".repeat(63)] {
            assert!(is_service_name(ok), "{ok}");
        }
        for bad in ["", "a", "-a", "a_b", "a b", "é1", &"x".repeat(64)] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }
}
