//! The wall clock, in the one unit the collector stores and compares: Unix milliseconds.

/// Now, Unix ms (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
