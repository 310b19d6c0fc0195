use super::*;

#[test]
fn timespans_in_systemd_format() {
    assert_eq!(parse_timespan("2min 11.234s"), Some(131.234));
    assert_eq!(parse_timespan("131ms"), Some(0.131));
    assert_eq!(parse_timespan("1h 2min"), Some(3720.0));
    assert_eq!(parse_timespan("500us"), Some(0.0005));
    assert_eq!(parse_timespan("8.712s"), Some(8.712));
    assert_eq!(parse_timespan("soon"), None);
    assert_eq!(parse_timespan(""), None);
}
