//! Sample ids (version 4 UUIDs) and timestamps written as Python's `str(datetime)`, as the
//! connector's messages carry them.

use std::sync::Mutex;
use std::time::SystemTime;

use super::hub::lock;
use super::strategy;

/// Fill `buf` from `/dev/urandom`.
pub(crate) fn read_urandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// A random (version 4) UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. From `/dev/urandom`; where
/// there is none, from a process-wide SplitMix64 seeded by the clock (unique, not secret).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if read_urandom(&mut b).is_err() {
        static FALLBACK: Mutex<Option<strategy::SplitMix64>> = Mutex::new(None);
        let mut g = lock(&FALLBACK);
        let r = g.get_or_insert_with(strategy::SplitMix64::from_os);
        b[..8].copy_from_slice(&r.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&r.next_u64().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `time` (UTC) as Python's `str(datetime)`: `2019-07-11 00:12:48.816752`, and without the
/// fraction when the microseconds are 0, as Python writes it.
pub fn python_timestamp(time: SystemTime) -> String {
    let d = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let mut out = format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_python_str_datetime_in_utc() {
        let t = |s: u64, us: u32| {
            python_timestamp(SystemTime::UNIX_EPOCH + Duration::new(s, us * 1000))
        };
        // 2019-07-11 00:12:48.816752 UTC = 1562803968.816752 (date -u -d @1562803968).
        assert_eq!(t(1_562_803_968, 816_752), "2019-07-11 00:12:48.816752");
        assert_eq!(t(0, 1), "1970-01-01 00:00:00.000001");
        // Python's str(datetime) drops a zero fraction.
        assert_eq!(t(0, 0), "1970-01-01 00:00:00");
        // Leap day and end of year.
        assert_eq!(t(951_782_400, 5), "2000-02-29 00:00:00.000005");
        assert_eq!(t(1_704_067_199, 999_999), "2023-12-31 23:59:59.999999");
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        for u in [&a, &b] {
            let parts: Vec<&str> = u.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{u}");
            assert!("89ab".contains(&parts[3][..1]), "{u}");
            assert!(u
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }
}
