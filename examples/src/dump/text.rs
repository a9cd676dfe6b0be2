//! Small formatting helpers shared by the subcommands.

use mtf::spec::{SetAttributes, StringType};
use mtf::{MtfDateTime, MtfText};

/// A date for people: `YYYY-MM-DD HH:MM:SS`, or `unknown` for the undefined date.
pub fn date(d: MtfDateTime) -> String {
    if d.is_none() {
        "unknown".into()
    } else {
        d.to_string()
    }
}

/// A date for JSON: the text, or null.
pub fn date_opt(d: MtfDateTime) -> Option<String> {
    d.to_datetime().map(|x| x.to_string())
}

/// A string field decoded for display, control characters escaped.
pub fn text(t: &MtfText, st: StringType) -> String {
    esc(&t.display(st)).into_owned()
}

/// A string from a medium made safe for a terminal (control characters escaped): the one
/// escaping rule, [`mtf::text::escape_controls`].
pub use mtf::text::escape_controls as esc;

/// The operation an SSET names (its attribute bits 0..5).
pub fn operation(a: SetAttributes) -> String {
    let mut v = Vec::new();
    for (bit, name) in [
        (SetAttributes::TRANSFER, "transfer"),
        (SetAttributes::COPY, "copy"),
        (SetAttributes::NORMAL, "normal"),
        (SetAttributes::DIFFERENTIAL, "differential"),
        (SetAttributes::INCREMENTAL, "incremental"),
        (SetAttributes::DAILY, "daily"),
    ] {
        if a.contains(bit) {
            v.push(name);
        }
    }
    if v.is_empty() {
        "unknown".into()
    } else {
        v.join("+")
    }
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// An optional value, or `unknown`.
pub fn or_unknown<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "unknown".into())
}

/// Human names of set bits in a u32 attribute word, given (bit, name) pairs; unknown bits as hex.
pub fn flag_names(bits: u32, names: &[(u32, &str)]) -> String {
    let mut v = Vec::new();
    let mut rest = bits;
    for &(b, n) in names {
        if bits & b != 0 {
            v.push(n.to_string());
            rest &= !b;
        }
    }
    if rest != 0 {
        v.push(format!("{rest:#x}"));
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}
