//! The `Sec-MS-GEC` token the Edge read-aloud endpoint demands, and the clock it depends on.
//!
//! The token is the upper-case hex SHA-256 of the current Windows file time (100 ns ticks since
//! 1601-01-01 UTC) rounded *down* to a 5-minute boundary, followed by the TrustedClientToken.
//! It therefore changes every five minutes and a client whose clock is off by more than that is
//! refused with 403 at the WebSocket handshake; the cure is to correct the clock by the
//! server's `Date` header and try once more, which is why this module also formats and parses
//! HTTP dates (no date crate is needed for two fixed formats).

use sha2::{Digest, Sha256};

/// Public token of the Edge browser's read-aloud feature (not a secret: it ships in Edge).
pub const TRUSTED_CLIENT_TOKEN: &str = "6A5AA1D4EAFF4E9FB37E23D68491D6F4";
/// Seconds from 1601-01-01 to 1970-01-01.
const WINDOWS_EPOCH_OFFSET: i64 = 11_644_473_600;
/// The token's time granularity.
const WINDOW_SECS: i64 = 300;

/// `Sec-MS-GEC` for the (skew-corrected) Unix time `unix_secs`.
pub fn sec_ms_gec(unix_secs: i64, trusted_client_token: &str) -> String {
    let windows_secs = unix_secs + WINDOWS_EPOCH_OFFSET;
    let rounded = windows_secs - windows_secs.rem_euclid(WINDOW_SECS);
    let ticks = rounded as i128 * 10_000_000;
    let digest = Sha256::digest(format!("{ticks}{trusted_client_token}").as_bytes());
    hex::encode_upper(digest)
}

/// Current Unix time in whole seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The JavaScript `Date.toString()` style the Edge client puts in `X-Timestamp`:
/// `Tue Mar 04 2025 10:11:12 GMT+0000 (Coordinated Universal Time)`.
pub fn js_timestamp(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {day:02} {year} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an HTTP `Date` header (RFC 7231 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let rest = value.trim().split_once(", ")?.1;
    let mut parts = rest.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_follows_the_five_minute_rule() {
        // 2024-11-08 12:00:00 UTC = 1731067200; Windows ticks are an exact multiple of 3e9.
        let t = 1_731_067_200;
        let expected = {
            let ticks = (t + WINDOWS_EPOCH_OFFSET) as i128 * 10_000_000;
            assert_eq!(ticks % 3_000_000_000, 0);
            hex::encode_upper(Sha256::digest(format!("{ticks}{TRUSTED_CLIENT_TOKEN}")))
        };
        assert_eq!(sec_ms_gec(t, TRUSTED_CLIENT_TOKEN), expected);
        assert_eq!(sec_ms_gec(t + 299, TRUSTED_CLIENT_TOKEN), expected);
        assert_ne!(sec_ms_gec(t + 300, TRUSTED_CLIENT_TOKEN), expected);
        assert_ne!(sec_ms_gec(t - 1, TRUSTED_CLIENT_TOKEN), expected);
        assert_eq!(expected.len(), 64);
        assert!(expected
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(
            js_timestamp(1_741_083_072),
            "Tue Mar 04 2025 10:11:12 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for t in [0, 951_782_400, 1_709_251_199, 4_102_444_800] {
            let days = t / 86_400;
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }
}
