//! Commit timestamps: milliseconds since the Unix epoch (UTC), printed as
//! `YYYY-MM-DDTHH:MM:SS.fff`, the form a point-in-time restore (STOPAT) is given in.

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.fff` (UTC) of a time in milliseconds since the Unix epoch.
pub fn format_ms(ms: u64) -> String {
    match mtf::DateTime::from_unix((ms / 1000) as i64) {
        Some(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            d.year,
            d.month,
            d.day,
            d.hour,
            d.minute,
            d.second,
            ms % 1000
        ),
        None => format!("@{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_milliseconds() {
        // 2024-02-29T23:59:58.007Z is 1709251198007 ms (date -u -d @1709251198).
        assert_eq!(
            super::format_ms(1_709_251_198_007),
            "2024-02-29T23:59:58.007"
        );
        assert_eq!(super::format_ms(0), "1970-01-01T00:00:00.000");
    }
}
