//! Building the [`Handshake`] of a socket from its connection's HTTP request.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use engine_io::RequestInfo;
use socketio_adapter::Handshake;
use socketio_parser::Value;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

/// Builds the handshake of a socket from its connection's request. Called lazily (on the first
/// `socket.handshake()`), so idle sockets do not hold a copy of every header.
pub(crate) fn build(req: &RequestInfo, auth: Value, issued: u64) -> Handshake {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &req.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let query = req
        .query_pairs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Handshake {
        xdomain: headers.contains_key("origin"),
        secure: req.uri.scheme_str() == Some("https"),
        headers,
        time: js_date_string(issued / 1000),
        address: req
            .remote_addr
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        issued,
        url: req
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| req.uri.to_string()),
        query,
        auth,
    }
}

/// A UTC date formatted like JavaScript's `String(new Date())`:
/// `Mon Nov 23 2026 13:30:46 GMT+0000 (Coordinated Universal Time)`.
pub(crate) fn js_date_string(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[usize::try_from(days % 7).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday} {month_name} {day:02} {year} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// The UTC date of `days` since 1970-01-01 as (year, month 1-12, day 1-31), with Howard
/// Hinnant's algorithm.
fn civil_from_days(days: u64) -> (i64, i64, i64) {
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A UTC time formatted like JavaScript's `Date.toJSON()`: `2026-11-23T13:30:46.123Z` (what a
/// `Date` argument of an emit becomes in the reference).
#[cfg_attr(not(feature = "admin-ui"), allow(dead_code))]
pub(crate) fn iso_date_string(unix_millis: u64) -> String {
    let secs = unix_millis / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let t = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        t / 3600,
        (t % 3600) / 60,
        t % 60,
        unix_millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_dates() {
        assert_eq!(
            js_date_string(0),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        // 2026-11-23T13:30:46Z
        assert_eq!(
            js_date_string(1_795_440_646),
            "Mon Nov 23 2026 13:30:46 GMT+0000 (Coordinated Universal Time)"
        );
        // 2024-02-29T23:59:59Z
        assert_eq!(
            js_date_string(1_709_251_199),
            "Thu Feb 29 2024 23:59:59 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date_string(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_date_string(1_709_251_199_042),
            "2024-02-29T23:59:59.042Z"
        );
    }
}
