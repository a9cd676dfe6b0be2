//! The one sanitiser for every name that comes from a medium: file and directory names, and the
//! names derived from medium contents (block types, stream ids, database file names, volume
//! device names). A name is used as one path component beneath the target, or refused.

/// Checks one path component from the medium; the reason if it must be refused.
///
/// Refused: empty names, NUL bytes, absolute paths, drive letters, `..` and `.`, path
/// separators (`/` and `\`) inside the component, and control characters (which would forge
/// lines when the name is printed and no file system tool expects them).
pub fn check_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty name".into());
    }
    if c.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if c.starts_with('/') || c.starts_with('\\') {
        return Err("absolute path".into());
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive letter".into());
    }
    if c == ".." {
        return Err("parent directory (..)".into());
    }
    if c == "." {
        return Err("current directory (.)".into());
    }
    if c.contains('/') || c.contains('\\') {
        return Err("contains a path separator".into());
    }
    if c.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(())
}

/// The directory a volume's files go under: the device name with the drive colon and any
/// separators removed (`C:` gives `C`, `\\srv\share` gives `srv_share`); a name left empty, or
/// one the sanitiser refuses, gives `volume{index}`.
pub fn volume_dir(device: &str, index: usize) -> String {
    let s: String = device
        .trim_start_matches(['\\', '/'])
        .chars()
        .filter(|&c| c != ':' && c != '\0')
        .map(|c| if c == '\\' || c == '/' { '_' } else { c })
        .collect();
    if check_component(&s).is_ok() {
        s
    } else {
        format!("volume{index}")
    }
}

/// A name built from pieces of medium contents (block type, stream id, counters): each piece is
/// checked by [`check_component`] as well as the whole, so that a crafted block type such as
/// `/PWN` or `..` is refused, never made a path component.
pub fn derived_name(pieces: &[&str], separator: &str) -> Result<String, String> {
    for p in pieces {
        check_component(p).map_err(|r| format!("{p:?}: {r}"))?;
    }
    let name = pieces.join(separator);
    check_component(&name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_components_are_refused() {
        for bad in [
            "", "..", ".", "/etc", "\\x", "C:x", "a/b", "a\\b", "a\0b", "a\nb", "\x1b[2J",
        ] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a b", "résumé.txt", "...", "ab:c"] {
            assert!(check_component(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn derived_names_refuse_crafted_pieces() {
        assert!(derived_name(&["01", "/PWN", "7.MQDA"], "-").is_err());
        assert!(derived_name(&["01", "..", "7.MQDA"], "-").is_err());
        assert_eq!(
            derived_name(&["01", "MSDA", "7.MQDA"], "-").unwrap(),
            "01-MSDA-7.MQDA"
        );
    }

    #[test]
    fn volume_dirs() {
        assert_eq!(volume_dir("C:", 1), "C");
        assert_eq!(volume_dir("\\\\srv\\share", 1), "srv_share");
        assert_eq!(volume_dir("..", 3), "volume3");
        assert_eq!(volume_dir("a\x1bb", 2), "volume2");
    }
}
