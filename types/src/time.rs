//! Block and vote time: nanoseconds since the Unix epoch, written as RFC 3339.
//!
//! Consensus never reads a clock; the node passes `now` in. The conversion to
//! and from civil dates uses the days-from-civil algorithm (proleptic
//! Gregorian calendar, UTC only).

use borsh::{BorshDeserialize, BorshSerialize};

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Time(pub u64);

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// One millisecond in nanoseconds: the minimum step of BFT time.
pub const MILLISECOND: u64 = 1_000_000;

/// Why a time string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 UTC time {0:?} (expected e.g. 2026-11-22T03:54:02.123Z)")]
pub struct TimeError(pub String);

impl Time {
    /// The time `ms` milliseconds later (saturating).
    pub fn plus_millis(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms.saturating_mul(MILLISECOND)))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0 / MILLISECOND
    }

    /// RFC 3339 in UTC with nanoseconds trimmed of trailing zeros, like Go's `RFC3339Nano`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / NANOS_PER_SEC;
        let nanos = self.0 % NANOS_PER_SEC;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let mut s = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`; only UTC offsets are accepted.
    pub fn parse_rfc3339(s: &str) -> Result<Time, TimeError> {
        let err = || TimeError(s.chars().take(64).collect());
        let body = s
            .strip_suffix('Z')
            .or_else(|| s.strip_suffix("+00:00"))
            .ok_or_else(err)?;
        let (date, clock) = body.split_once('T').ok_or_else(err)?;
        let num = |t: &str, len: usize| -> Result<u64, TimeError> {
            if t.len() != len || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            t.parse().map_err(|_| err())
        };
        let mut dp = date.split('-');
        let (y, m, d) = match (dp.next(), dp.next(), dp.next(), dp.next()) {
            (Some(y), Some(m), Some(d), None) => (num(y, 4)?, num(m, 2)?, num(d, 2)?),
            _ => return Err(err()),
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (clock, None),
        };
        let mut tp = hms.split(':');
        let (hh, mm, ss) = match (tp.next(), tp.next(), tp.next(), tp.next()) {
            (Some(h), Some(m), Some(s), None) => (num(h, 2)?, num(m, 2)?, num(s, 2)?),
            _ => return Err(err()),
        };
        if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(err());
        }
        if hh > 23 || mm > 59 || ss > 59 {
            return Err(err());
        }
        let nanos = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 => {
                num(f, f.len())? * 10u64.pow(9 - f.len() as u32)
            }
            Some(_) => return Err(err()),
        };
        let days = days_from_civil(y as i64, m as u32, d as u32);
        let secs = u64::try_from(days).map_err(|_| err())? * 86_400 + hh * 3600 + mm * 60 + ss;
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(nanos))
            .map(Time)
            .ok_or_else(err)
    }
}

impl std::fmt::Debug for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        Time::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
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
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(Time(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        let t = Time::parse_rfc3339("2000-02-29T12:34:56.5Z").unwrap();
        assert_eq!(t.0, 951_827_696_500_000_000);
        assert_eq!(t.to_rfc3339(), "2000-02-29T12:34:56.5Z");
        assert_eq!(
            Time::parse_rfc3339("2026-11-22T03:54:02+00:00").unwrap().0 / NANOS_PER_SEC,
            1_795_319_642
        );
    }

    #[test]
    fn bad_times_are_refused() {
        for s in [
            "2001-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T03:54:02",
            "2026-11-22T03:54:02+01:00",
            "2026-11-22 03:54:02Z",
            "2026-11-22T03:54:02.Z",
            "2026-11-22T03:54:02.1234567890Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(Time::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(n in 0u64..=(u64::MAX / 2)) {
            let t = Time(n);
            prop_assert_eq!(Time::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        }
    }
}
