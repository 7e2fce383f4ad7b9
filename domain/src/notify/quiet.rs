//! Quiet hours: a window of the day, in the user's time zone, when email and
//! Web Push wait (in-app never does: the inbox is not a phone buzzing). A
//! delivery that falls in the window is held until it ends, and decided
//! again then.

use crate::input::InvalidInput;
use events::catalog::notifications::QuietHours;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use time::OffsetDateTime;

/// Checks quiet hours as a user gives them: `start` and `end` as `HH:MM`
/// (24 hours, different), `time_zone` an IANA name (`Europe/Berlin`).
pub fn parse_quiet_hours(start: &str, end: &str, time_zone: &str) -> Result<QuietHours, InvalidInput> {
    let start_time = clock("quiet_hours.start", start)?;
    let end_time = clock("quiet_hours.end", end)?;
    if start_time == end_time {
        return Err(InvalidInput::new("quiet_hours.end", "must differ from start"));
    }
    let zone = time_zone.trim();
    TimeZone::get(zone)
        .map_err(|_| InvalidInput::new("quiet_hours.time_zone", "must be an IANA time zone such as Europe/Berlin"))?;
    Ok(QuietHours { start: start.trim().to_owned(), end: end.trim().to_owned(), time_zone: zone.to_owned() })
}

fn clock(field: &str, raw: &str) -> Result<Time, InvalidInput> {
    let raw = raw.trim();
    let parsed = raw.split_once(':').and_then(|(h, m)| {
        let well_formed = h.len() == 2 && m.len() == 2 && raw.bytes().filter(u8::is_ascii_digit).count() == 4;
        let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
        well_formed.then(|| Time::new(h, m, 0, 0).ok()).flatten()
    });
    parsed.ok_or_else(|| InvalidInput::new(field, "must be a time of day as HH:MM, from 00:00 to 23:59"))
}

/// When the quiet hours around `now` end, if `now` is in them; `None` when
/// it is not (or the hours are unreadable: a delivery is never held forever).
pub fn quiet_until(quiet: &QuietHours, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let zone = TimeZone::get(&quiet.time_zone).ok()?;
    let (start, end) = (clock("", &quiet.start).ok()?, clock("", &quiet.end).ok()?);
    let local: ZonedDateTime =
        Timestamp::from_nanosecond(now.unix_timestamp_nanos()).ok()?.to_zoned_datetime(zone.clone());
    let at = local.time();
    let wraps = start > end;
    let inside = if wraps { at >= start || at < end } else { at >= start && at < end };
    if !inside {
        return None;
    }
    // The end is today, unless the window wraps midnight and today's part is
    // the evening one.
    let day = if wraps && at >= start { local.date().tomorrow().ok()? } else { local.date() };
    let ends = day.to_datetime(end).to_zoned_datetime(zone).ok()?.timestamp();
    OffsetDateTime::from_unix_timestamp_nanos(ends.as_nanosecond()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn berlin_nights() -> QuietHours {
        parse_quiet_hours("22:00", "07:00", "Europe/Berlin").unwrap()
    }

    #[test]
    fn quiet_hours_are_checked_naming_the_field() {
        let field = |s: &str, e: &str, z: &str| parse_quiet_hours(s, e, z).unwrap_err().field;
        assert_eq!(field("25:00", "07:00", "Europe/Berlin"), "quiet_hours.start");
        assert_eq!(field("22:00", "7:00", "Europe/Berlin"), "quiet_hours.end");
        assert_eq!(field("22:00", "22:00", "Europe/Berlin"), "quiet_hours.end");
        assert_eq!(field("22:00", "07:00", "Mars/Olympus"), "quiet_hours.time_zone");
    }

    #[test]
    fn a_night_window_holds_until_the_morning_in_the_users_time_zone() {
        // 23:30 in Berlin (UTC+1 in January) is 22:30 UTC: quiet until 07:00 Berlin, 06:00 UTC.
        let until = quiet_until(&berlin_nights(), datetime!(2026-01-10 22:30 UTC)).unwrap();
        assert_eq!(until, datetime!(2026-01-11 06:00 UTC));
        // 05:00 Berlin: the morning part of the same night.
        assert_eq!(
            quiet_until(&berlin_nights(), datetime!(2026-01-11 04:00 UTC)),
            Some(datetime!(2026-01-11 06:00 UTC))
        );
        // Noon: not quiet.
        assert_eq!(quiet_until(&berlin_nights(), datetime!(2026-01-11 11:00 UTC)), None);
    }

    #[test]
    fn summer_time_moves_the_window_with_the_clocks() {
        // In July Berlin is UTC+2: 07:00 there is 05:00 UTC.
        assert_eq!(
            quiet_until(&berlin_nights(), datetime!(2026-07-10 21:00 UTC)),
            Some(datetime!(2026-07-11 05:00 UTC))
        );
    }

    #[test]
    fn a_daytime_window_does_not_wrap() {
        let lectures = parse_quiet_hours("09:00", "12:30", "UTC").unwrap();
        assert_eq!(quiet_until(&lectures, datetime!(2026-03-02 10:00 UTC)), Some(datetime!(2026-03-02 12:30 UTC)));
        assert_eq!(quiet_until(&lectures, datetime!(2026-03-02 12:30 UTC)), None);
        assert_eq!(quiet_until(&lectures, datetime!(2026-03-02 08:59 UTC)), None);
    }
}
