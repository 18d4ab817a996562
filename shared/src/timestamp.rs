//! How every instant a client or a consumer reads is written: RFC 3339 in UTC with
//! milliseconds and `Z`, `2026-12-02T04:05:06.789Z`. One shape across `/me`, the chat routes,
//! the socket and the notification events, so a client parses one format; chrono's default
//! (nanoseconds, `+00:00`) differed from route to route.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::{http::Text, text_rule::TextRule};

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant as [`rfc3339`] writes it, for a response field: its schema says `date-time`.
pub struct Timestamp;

impl TextRule for Timestamp {
    const FORMAT: Option<&'static str> = Some("date-time");
    const EXAMPLE: Option<&'static str> = Some("2025-01-31T09:30:00.000Z");

    /// Any RFC 3339 instant is a `date-time`; only what [`rfc3339`] writes is one of ours.
    fn well_formed(text: &str) -> bool {
        DateTime::parse_from_rfc3339(text).is_ok_and(|at| rfc3339(at.to_utc()) == text)
    }
}

/// The instant as a response field.
pub fn timestamp(at: DateTime<Utc>) -> Text<Timestamp> {
    rfc3339(at).into()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn milliseconds_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 4, 5, 6).unwrap() + chrono::Duration::nanoseconds(789_123_456);
        assert_eq!(rfc3339(at), "2026-12-02T04:05:06.789Z");
        assert_eq!(rfc3339(Utc.with_ymd_and_hms(2026, 12, 2, 4, 5, 6).unwrap()), "2026-12-02T04:05:06.000Z");
    }

    #[test]
    fn the_rule_takes_what_rfc3339_writes_and_nothing_else() {
        assert_eq!(Timestamp::check(Timestamp::EXAMPLE.unwrap()), Ok(()));
        assert_eq!(Timestamp::check(&rfc3339(Utc::now())), Ok(()));
        for other in ["2026-12-02T04:05:06Z", "2026-12-02T04:05:06.789+00:00", "2026-12-02T04:05:06.789123Z", ""] {
            assert_eq!(Timestamp::check(other), Err(crate::text_rule::Broken::Malformed), "{other}");
        }
    }
}
