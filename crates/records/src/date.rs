//! Calendar dates as FHIR writes them, with no clock: the caller says what "today" is.

use std::fmt;

/// A proleptic Gregorian calendar date (year 1..=9999), comparable. FHIR `date` is `YYYY-MM-DD`; a FHIR
/// `dateTime` contributes its date part (the time of day and offset are checked for form, then ignored, so
/// comparisons are by day as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FhirDate {
    year: u16,
    month: u8,
    day: u8,
}

impl FhirDate {
    /// A date, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if !(1..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
        {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1..=31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The UTC date of a Unix time in seconds (clamped to years 1..=9999).
    pub fn from_unix_seconds(secs: i64) -> Self {
        // Howard Hinnant's civil_from_days.
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        if year < 1 {
            return Self {
                year: 1,
                month: 1,
                day: 1,
            };
        }
        if year > 9999 {
            return Self {
                year: 9999,
                month: 12,
                day: 31,
            };
        }
        Self {
            year: year as u16,
            month,
            day,
        }
    }

    /// Parses a full FHIR `date` (`YYYY-MM-DD`) or `dateTime` (`YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)`).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 10 {
            return None;
        }
        let date = parse_ymd(&b[..10])?;
        match b.len() {
            10 => Some(date),
            _ if b[10] == b'T' && valid_time(&b[11..]) => Some(date),
            _ => None,
        }
    }

    /// Parses a possibly partial FHIR `date` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) or a `dateTime`, returning the
    /// first day it covers (used for a birth date, which FHIR allows to be partial).
    pub fn parse_partial_start(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        match b.len() {
            4 => Self::new(num(b)? as u16, 1, 1),
            7 if b[4] == b'-' => Self::new(num(&b[..4])? as u16, num(&b[5..7])? as u8, 1),
            _ => Self::parse(s),
        }
    }
}

impl fmt::Display for FhirDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn parse_ymd(b: &[u8]) -> Option<FhirDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    FhirDate::new(
        num(&b[..4])? as u16,
        num(&b[5..7])? as u8,
        num(&b[8..10])? as u8,
    )
}

/// `hh:mm:ss[.f+](Z|±hh:mm)`; FHIR requires the offset when a time is given.
fn valid_time(b: &[u8]) -> bool {
    let two = |b: &[u8], max: u32| b.len() == 2 && num(b).is_some_and(|n| n <= max);
    if b.len() < 9
        || !two(&b[..2], 23)
        || b[2] != b':'
        || !two(&b[3..5], 59)
        || b[5] != b':'
        || !two(&b[6..8], 59)
    {
        return false;
    }
    let mut rest = &b[8..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[1 + digits..];
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            two(&[*h1, *h2], 14) && two(&[*m1, *m2], 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_datetimes() {
        assert_eq!(FhirDate::parse("2025-02-28"), FhirDate::new(2025, 2, 28));
        assert_eq!(
            FhirDate::parse("2024-02-29T10:15:00+01:00"),
            FhirDate::new(2024, 2, 29)
        );
        assert_eq!(
            FhirDate::parse("2024-02-29T10:15:00.123Z"),
            FhirDate::new(2024, 2, 29)
        );
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
            "2025-01-01T10:15",
            "2025-01-01T10:15:00",
            "",
            "20250101",
        ] {
            assert_eq!(FhirDate::parse(bad), None, "{bad}");
        }
        assert_eq!(
            FhirDate::parse_partial_start("1980"),
            FhirDate::new(1980, 1, 1)
        );
        assert_eq!(
            FhirDate::parse_partial_start("1980-07"),
            FhirDate::new(1980, 7, 1)
        );
    }

    #[test]
    fn unix_seconds_to_date() {
        assert_eq!(
            FhirDate::from_unix_seconds(0),
            FhirDate::new(1970, 1, 1).unwrap()
        );
        assert_eq!(
            FhirDate::from_unix_seconds(951_782_400),
            FhirDate::new(2000, 2, 29).unwrap()
        );
        assert_eq!(
            FhirDate::from_unix_seconds(1_767_225_599),
            FhirDate::new(2025, 12, 31).unwrap()
        );
        assert_eq!(
            FhirDate::from_unix_seconds(-1),
            FhirDate::new(1969, 12, 31).unwrap()
        );
        assert!(FhirDate::new(2025, 3, 1).unwrap() > FhirDate::new(2025, 2, 28).unwrap());
    }
}
