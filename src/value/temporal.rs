//! ISO-8601 dates and naive UTC datetimes, parsed strictly (SPEC §2): `2024-01-02` and
//! `2024-01-02T03:04:05[.ffffff][Z|+00:00]`. chrono checks the calendar; the shape is checked
//! here so that `2024-1-2` or a space separator is refused rather than guessed.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn epoch() -> NaiveDate {
    NaiveDate::default() // 1970-01-01
}

pub(crate) fn days_from_ymd(y: i32, m: u32, d: u32) -> Option<i32> {
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    i32::try_from(date.signed_duration_since(epoch()).num_days()).ok()
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `YYYY-MM-DD`; `None` if the shape is wrong or the day does not exist.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !digits(y) || !digits(m) || !digits(d) {
        return None;
    }
    days_from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// Why a datetime string was refused, for the error message.
pub(crate) enum DateTimeError {
    Shape,
    Offset,
}

/// Parses a naive UTC datetime; `Z` and `+00:00` are accepted and dropped, other offsets refused.
pub(crate) fn parse_datetime(s: &str) -> Result<i64, DateTimeError> {
    let (date_part, rest) = s.split_once('T').ok_or(DateTimeError::Shape)?;
    let days = parse_date(date_part).ok_or(DateTimeError::Shape)?;
    let rest = if let Some(r) = rest.strip_suffix('Z') {
        r
    } else if let Some(r) = rest.strip_suffix("+00:00") {
        r
    } else if rest.len() > 6 && (rest.contains('+') || rest[6..].contains('-')) {
        return Err(DateTimeError::Offset);
    } else {
        rest
    };
    let (hms, frac) = match rest.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (rest, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = parts.as_slice() else {
        return Err(DateTimeError::Shape);
    };
    if [h, mi, se].iter().any(|p| p.len() != 2 || !digits(p)) {
        return Err(DateTimeError::Shape);
    }
    let micros: u32 = match frac {
        None => 0,
        Some(f) if f.len() <= 6 && digits(f) => {
            let padded = format!("{f:0<6}");
            padded.parse().map_err(|_| DateTimeError::Shape)?
        }
        Some(_) => return Err(DateTimeError::Shape),
    };
    let parse = |p: &str| p.parse::<u32>().map_err(|_| DateTimeError::Shape);
    let time = NaiveTime::from_hms_micro_opt(parse(h)?, parse(mi)?, parse(se)?, micros).ok_or(DateTimeError::Shape)?;
    let in_day = i64::from(time.num_seconds_from_midnight()) * 1_000_000 + i64::from(micros);
    Ok(i64::from(days) * MICROS_PER_DAY + in_day)
}

pub(crate) fn format_date(days: i32) -> String {
    match epoch().checked_add_signed(chrono::Duration::days(days.into())) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        None => format!("<date {days}>"),
    }
}

fn to_naive(micros: i64) -> Option<NaiveDateTime> {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let date = epoch().checked_add_signed(chrono::Duration::days(days))?;
    let secs = u32::try_from(in_day / 1_000_000).ok()?;
    let us = u32::try_from(in_day % 1_000_000).ok()?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, us * 1000)?;
    Some(NaiveDateTime::new(date, time))
}

/// `2024-01-02T03:04:05` with `.ffffff` only when the microseconds are not zero.
pub(crate) fn format_datetime(micros: i64) -> String {
    match to_naive(micros) {
        Some(dt) => {
            let us = dt.nanosecond() / 1000;
            let mut out = clock_text(&dt).unwrap_or_else(|| {
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    dt.year(),
                    dt.month(),
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                )
            });
            if us != 0 {
                out.push('.');
                push_digits(&mut out, us, 6);
            }
            out
        }
        None => format!("<datetime {micros}>"),
    }
}

/// RFC 3339 UTC with microseconds, as `created_at` and event times are shown.
pub(crate) fn format_timestamp(micros: i64) -> String {
    match to_naive(micros) {
        Some(dt) => match clock_text(&dt) {
            Some(mut out) => {
                out.push('.');
                push_digits(&mut out, dt.nanosecond() / 1000, 6);
                out.push('Z');
                out
            }
            // Years outside 0–9999 carry a sign and more digits.
            None => format!("{}Z", dt.format("%Y-%m-%dT%H:%M:%S%.6f")),
        },
        None => format!("<time {micros}>"),
    }
}

/// `2024-01-02T03:04:05`, digit by digit (an export formats one per event, and parsing a
/// strftime pattern each time was a tenth of it); `None` for a year outside 0–9999.
fn clock_text(dt: &NaiveDateTime) -> Option<String> {
    let year = u32::try_from(dt.year()).ok().filter(|y| *y <= 9999)?;
    let mut out = String::with_capacity(27);
    push_digits(&mut out, year, 4);
    for (sep, n) in [('-', dt.month()), ('-', dt.day()), ('T', dt.hour()), (':', dt.minute()), (':', dt.second())] {
        out.push(sep);
        push_digits(&mut out, n, 2);
    }
    Some(out)
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}

/// Parses an RFC 3339 time (any offset) into UTC microseconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(dt.timestamp_micros())
}

pub(crate) fn date_to_micros(days: i32) -> i64 {
    i64::from(days).saturating_mul(MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit timestamp is the strftime pattern's text, and a datetime value the
    /// text it always had, across the years they cover, at their edges and beyond them.
    #[test]
    fn timestamps_read_as_the_pattern_writes_them() {
        let pattern = |m: i64| to_naive(m).map(|dt| format!("{}Z", dt.format("%Y-%m-%dT%H:%M:%S%.6f")));
        let year_0 = -62_167_219_200_000_000;
        let year_10000 = 253_402_300_800_000_000;
        let mut seeds = vec![0, 1, -1, 999_999, 1_000_000, year_0, year_0 - 1, year_10000, year_10000 - 1, i64::MAX];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Spread over years −2000 to 12000, and every microsecond digit.
            seeds.push((x % 440_000_000_000_000_000) as i64 - 125_000_000_000_000_000);
        }
        // Datetime values: the fraction only when it is not zero, years beyond 0–9999 as
        // `{:04}` writes them.
        let datetime = |m: i64| {
            to_naive(m).map(|dt| {
                let base = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    dt.year(),
                    dt.month(),
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                );
                match dt.nanosecond() / 1000 {
                    0 => base,
                    us => format!("{base}.{us:06}"),
                }
            })
        };
        for m in seeds {
            let expected = pattern(m).unwrap_or_else(|| format!("<time {m}>"));
            assert_eq!(format_timestamp(m), expected, "micros {m}");
            for m in [m, m - m.rem_euclid(1_000_000)] {
                let expected = datetime(m).unwrap_or_else(|| format!("<datetime {m}>"));
                assert_eq!(format_datetime(m), expected, "datetime micros {m}");
            }
        }
    }
}
