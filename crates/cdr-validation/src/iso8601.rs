//! ISO 8601 dates, times, date-times and durations as openEHR uses them: extended or basic
//! format, partial values (`2020`, `2020-05`, `10:30`), fractions and time zones.
//!
//! Values are parsed into components so that precision can be checked against C_DATE /
//! C_TIME / C_DATE_TIME patterns and ranges compared.

/// Parsed date/time components; `None` means the component is absent (partial value).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DateTimeParts {
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub hour: Option<u32>,
    pub minute: Option<u32>,
    pub second: Option<u32>,
    pub fraction: Option<f64>,
    /// Offset from UTC in minutes, when a zone is given (`Z` is 0).
    pub tz_minutes: Option<i32>,
}

impl DateTimeParts {
    /// Seconds since 0000-01-01T00:00 UTC of the earliest instant the value can denote
    /// (missing parts taken as their minimum), for range comparisons.
    pub fn approx_seconds(&self) -> f64 {
        let y = self.year.unwrap_or(0) as i64;
        let m = self.month.unwrap_or(1) as i64;
        let d = self.day.unwrap_or(1) as i64;
        let days = days_from_civil(y, m, d) as f64;
        let secs = self.hour.unwrap_or(0) as f64 * 3600.0
            + self.minute.unwrap_or(0) as f64 * 60.0
            + self.second.unwrap_or(0) as f64
            + self.fraction.unwrap_or(0.0);
        days * 86400.0 + secs - self.tz_minutes.unwrap_or(0) as f64 * 60.0
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        if self.i + n > self.s.len() {
            return None;
        }
        let mut v = 0u32;
        for k in 0..n {
            let c = self.s[self.i + k];
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        self.i += n;
        Some(v)
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

fn parse_date_into(c: &mut Cursor<'_>, p: &mut DateTimeParts) -> Option<()> {
    p.year = Some(c.digits(4)? as i32);
    if c.done() || c.peek() == Some(b'T') {
        return Some(());
    }
    let extended = c.eat(b'-');
    p.month = Some(c.digits(2)?);
    if !(1..=12).contains(&p.month?) {
        return None;
    }
    if c.done() || c.peek() == Some(b'T') {
        return if extended { Some(()) } else { None };
    }
    if extended && !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    if day < 1 || day > days_in_month(p.year?, p.month?) {
        return None;
    }
    p.day = Some(day);
    Some(())
}

fn parse_time_into(c: &mut Cursor<'_>, p: &mut DateTimeParts) -> Option<()> {
    let hour = c.digits(2)?;
    if hour > 24 {
        return None;
    }
    p.hour = Some(hour);
    if matches!(c.peek(), Some(b':') | Some(b'0'..=b'9')) {
        let extended = Some(c.eat(b':'));
        let minute = c.digits(2)?;
        if minute > 59 {
            return None;
        }
        p.minute = Some(minute);
        let colon_next = c.peek() == Some(b':');
        if (extended == Some(true) && colon_next)
            || (extended == Some(false) && c.peek().is_some_and(|b| b.is_ascii_digit()))
        {
            if extended == Some(true) {
                c.eat(b':');
            }
            let second = c.digits(2)?;
            if second > 60 {
                return None;
            }
            p.second = Some(second);
            if c.peek() == Some(b'.') || c.peek() == Some(b',') {
                c.i += 1;
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                if c.i == start {
                    return None;
                }
                let digits = std::str::from_utf8(&c.s[start..c.i]).ok()?;
                p.fraction = format!("0.{digits}").parse().ok();
            }
        }
    }
    if hour == 24 && (p.minute.unwrap_or(0) != 0 || p.second.unwrap_or(0) != 0) {
        return None;
    }
    // zone
    match c.peek() {
        Some(b'Z') => {
            c.i += 1;
            p.tz_minutes = Some(0);
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let h = c.digits(2)? as i32;
            let mut m = 0i32;
            if c.eat(b':') || c.peek().is_some_and(|b| b.is_ascii_digit()) {
                m = c.digits(2)? as i32;
            }
            if h > 14 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            p.tz_minutes = Some(if sign == b'-' { -total } else { total });
        }
        _ => {}
    }
    Some(())
}

/// Parses an ISO 8601 date (`2020`, `2020-05`, `2020-05-17`, `20200517`).
pub fn parse_date(s: &str) -> Option<DateTimeParts> {
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let mut p = DateTimeParts::default();
    parse_date_into(&mut c, &mut p)?;
    c.done().then_some(p)
}

/// Parses an ISO 8601 time (`10`, `10:30`, `10:30:15.123+02:00`, `103015Z`).
pub fn parse_time(s: &str) -> Option<DateTimeParts> {
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let mut p = DateTimeParts::default();
    c.eat(b'T');
    parse_time_into(&mut c, &mut p)?;
    c.done().then_some(p)
}

/// Parses an ISO 8601 date-time; a date alone (partial date-time) is accepted.
pub fn parse_date_time(s: &str) -> Option<DateTimeParts> {
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let mut p = DateTimeParts::default();
    parse_date_into(&mut c, &mut p)?;
    if c.eat(b'T') {
        p.day?;
        parse_time_into(&mut c, &mut p)?;
    }
    c.done().then_some(p)
}

/// A parsed ISO 8601 duration: which designators were used and the approximate length.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationParts {
    /// Designators used before `T` (`Y`, `M`, `W`, `D`).
    pub date_designators: Vec<char>,
    /// Designators used after `T` (`H`, `M`, `S`).
    pub time_designators: Vec<char>,
    pub negative: bool,
    /// Approximate length in seconds (years of 365.2425 days, months of a twelfth of that).
    pub seconds: f64,
}

/// Parses an ISO 8601 duration such as `P1Y2M3DT4H5M6.5S`, `PT30M`, `P2W`, `-P1D`.
pub fn parse_duration(s: &str) -> Option<DurationParts> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rest = rest.strip_prefix('P')?;
    let mut d = DurationParts {
        date_designators: vec![],
        time_designators: vec![],
        negative,
        seconds: 0.0,
    };
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    // Only the last (lowest-order) component may have a fraction.
    let mut fraction = false;
    for ch in rest.chars() {
        match ch {
            'T' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => num.push(if ch == ',' { '.' } else { ch }),
            _ => {
                // Digits, then at most one decimal mark with digits after it.
                let (whole, frac) = num.split_once('.').unwrap_or((&num, "1"));
                let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
                if fraction || !digits(whole) || !digits(frac) {
                    return None;
                }
                fraction = num.contains('.');
                let v: f64 = num.parse().ok()?;
                num.clear();
                let factor = match (in_time, ch) {
                    (false, 'Y') => 365.2425 * 86400.0,
                    (false, 'M') => 365.2425 / 12.0 * 86400.0,
                    (false, 'W') => 7.0 * 86400.0,
                    (false, 'D') => 86400.0,
                    (true, 'H') => 3600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return None,
                };
                let list = if in_time {
                    &mut d.time_designators
                } else {
                    &mut d.date_designators
                };
                if list.contains(&ch) {
                    return None;
                }
                list.push(ch);
                d.seconds += v * factor;
                any = true;
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    if in_time && d.time_designators.is_empty() {
        return None;
    }
    if negative {
        d.seconds = -d.seconds;
    }
    Some(d)
}

/// What a date/time pattern says about one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Mandatory,
    Optional,
    Forbidden,
}

/// Checks the precision of `p` against an ADL 1.4 date/time pattern such as
/// `yyyy-mm-ddTHH:MM:SS`, `yyyy-??-??`, `HH:MM:XX`. Returns a description of the first
/// violated component.
pub fn check_pattern(p: &DateTimeParts, pattern: &str) -> Result<(), String> {
    let pattern = pattern.trim();
    let (date_pat, time_pat) = match pattern.find('T') {
        Some(i) => (&pattern[..i], Some(&pattern[i + 1..])),
        None if pattern.contains(':') || pattern.starts_with("HH") || pattern.starts_with("hh") => {
            ("", Some(pattern))
        }
        None => (pattern, None),
    };
    let mut comps: Vec<(&str, bool, Need)> = Vec::new();
    let need = |tok: &str| -> Need {
        if tok.contains('?') {
            Need::Optional
        } else if tok.eq_ignore_ascii_case("xx") || tok.eq_ignore_ascii_case("xxxx") {
            Need::Forbidden
        } else {
            Need::Mandatory
        }
    };
    if !date_pat.is_empty() {
        let toks: Vec<&str> = date_pat.split('-').collect();
        let names = ["year", "month", "day"];
        let present = [p.year.is_some(), p.month.is_some(), p.day.is_some()];
        for (i, t) in toks.iter().enumerate().take(3) {
            comps.push((names[i], present[i], need(t)));
        }
    }
    if let Some(tp) = time_pat {
        let toks: Vec<&str> = tp.split(':').collect();
        let names = ["hour", "minute", "second"];
        let present = [p.hour.is_some(), p.minute.is_some(), p.second.is_some()];
        for (i, t) in toks.iter().enumerate().take(3) {
            comps.push((names[i], present[i], need(t)));
        }
    } else if !date_pat.is_empty() && p.hour.is_some() {
        // a date pattern forbids a time part only for C_DATE; C_DATE_TIME patterns carry `T`
    }
    for (name, present, need) in comps {
        match (need, present) {
            (Need::Mandatory, false) => {
                return Err(format!("{name} is required by pattern {pattern}"))
            }
            // `XX` (forbidden) is not enforced: EHRbase and Archie accept more precise values
            // than a pattern asks for, and real data relies on it.
            (Need::Forbidden, true) => {}
            _ => {}
        }
    }
    Ok(())
}

/// Checks the designators of a duration against a C_DURATION pattern such as `PYMWDTHMS` or
/// `PTHM`.
pub fn check_duration_pattern(d: &DurationParts, pattern: &str) -> Result<(), String> {
    let pattern = pattern.trim().trim_start_matches('P');
    let (date_allowed, time_allowed) = match pattern.find('T') {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => (pattern, ""),
    };
    for c in &d.date_designators {
        if !date_allowed.contains(*c) {
            return Err(format!(
                "designator {c} is not allowed by pattern P{pattern}"
            ));
        }
    }
    for c in &d.time_designators {
        if !time_allowed.contains(*c) {
            return Err(format!(
                "time designator {c} is not allowed by pattern P{pattern}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(parse_date("2020").is_some());
        assert!(parse_date("2020-05").is_some());
        assert!(parse_date("2020-05-17").is_some());
        assert!(parse_date("20200517").is_some());
        assert!(parse_date("2020-02-30").is_none());
        assert!(parse_date("2020-13").is_none());
        assert!(parse_date("2020-5-1").is_none());
        assert!(parse_date("").is_none());
        for bad in ["2021-13", "2021-10-32", "NULL", "2021-1", "21-10-01"] {
            assert!(parse_date(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn times_and_date_times() {
        assert!(parse_time("10:30").is_some());
        assert!(parse_time("10:30:15.123+02:00").is_some());
        assert!(parse_time("103015Z").is_some());
        assert!(parse_time("25:00").is_none());
        for bad in ["T48", "10:95", "", "NULL", "10:30:61", "T"] {
            assert!(parse_time(bad).is_none(), "{bad:?}");
        }
        for bad in [
            "",
            "NULL",
            "2021-13",
            "2021-10-32T10:00",
            "2021-10-01T10:95",
        ] {
            assert!(parse_date_time(bad).is_none(), "{bad:?}");
        }
        let p = parse_date_time("2021-09-21T21:11:36.652-03:00").unwrap();
        assert_eq!(p.tz_minutes, Some(-180));
        assert_eq!(p.fraction, Some(0.652));
        assert!(parse_date_time("2022-02-03T04:05:06").is_some());
        assert!(parse_date_time("2022-02-03T04:05:06Z").is_some());
        assert!(parse_date_time("2022-02").is_some());
        assert!(parse_date_time("not-a-date").is_none());
        assert!(parse_date_time("2022-02-03T").is_none());
        assert!(parse_date_time("2022-02-03 04:05").is_none());
        let a = parse_date_time("2020-01-01T10:00:00+02:00").unwrap();
        let b = parse_date_time("2020-01-01T08:00:00Z").unwrap();
        assert_eq!(a.approx_seconds(), b.approx_seconds());
    }

    #[test]
    fn durations() {
        let d = parse_duration("P1Y2M3DT4H5M6.5S").unwrap();
        assert_eq!(d.date_designators, vec!['Y', 'M', 'D']);
        assert_eq!(d.time_designators, vec!['H', 'M', 'S']);
        assert!(parse_duration("PT30M").is_some());
        assert!(parse_duration("P2W").is_some());
        assert!(parse_duration("P").is_none());
        assert!(parse_duration("PT").is_none());
        assert!(parse_duration("P1H").is_none());
        let d = parse_duration("P1Y3M4DT2.5H").expect("a fraction in the last component");
        assert_eq!(d.time_designators, vec!['H']);
        assert!(parse_duration("PT0,5S").is_some());
        for bad in [
            "1Y",
            "P1.5Y2M",
            "PT1.5H30M",
            "P1Y.",
            "P.5D",
            "",
            "NULL",
            "P1YT",
            "-P",
        ] {
            assert!(parse_duration(bad).is_none(), "{bad:?}");
        }
        assert!(check_duration_pattern(&parse_duration("PT30M").unwrap(), "PTHM").is_ok());
        assert!(check_duration_pattern(&parse_duration("P1D").unwrap(), "PTHM").is_err());
    }

    #[test]
    fn patterns() {
        let full = parse_date_time("2022-02-03T04:05:06").unwrap();
        let date_only = parse_date_time("2022-02-03").unwrap();
        assert!(check_pattern(&full, "yyyy-mm-ddTHH:MM:SS").is_ok());
        assert!(check_pattern(&date_only, "yyyy-mm-ddTHH:MM:SS").is_err());
        assert!(check_pattern(&date_only, "yyyy-mm-ddT??:??:??").is_ok());
        assert!(check_pattern(&full, "yyyy-mm-ddTHH:MM:XX").is_ok()); // XX is lenient
        assert!(check_pattern(&parse_date("2020-05").unwrap(), "yyyy-mm-XX").is_ok());
        assert!(check_pattern(&parse_date("2020").unwrap(), "yyyy-mm-XX").is_err());
        assert!(check_pattern(&parse_time("10:30").unwrap(), "HH:MM:??").is_ok());
    }
}
