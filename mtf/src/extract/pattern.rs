//! Which entries to extract: shell-style patterns matched in linear time (`globset` compiles
//! them to one automaton; no backtracking, so `*/*/*/*/*.bak` costs what a plain name costs).
//!
//! A pattern matches a path relative to its volume (`dir/file`) or with the volume directory
//! in front (`C/dir/file`); it also matches every entry under a directory it matches. `*`
//! matches any run of characters, `/` included; `?` one character; `[abc]` a class.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled set of patterns; empty matches everything. It remembers which patterns have
/// selected something ([`Patterns::select`]), so that a pattern that selects nothing (a typo,
/// or a mistyped medium name read as a pattern) is reported rather than passing as success.
#[derive(Clone, Debug)]
pub struct Patterns {
    set: Option<GlobSet>,
    given: Vec<String>,
    hit: Vec<bool>,
}

impl Patterns {
    /// Compiles `patterns`; an invalid one is an error naming it.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Patterns, String> {
        if patterns.is_empty() {
            return Ok(Patterns {
                set: None,
                given: Vec::new(),
                hit: Vec::new(),
            });
        }
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.as_ref();
            let g = GlobBuilder::new(p.trim_end_matches('/'))
                .literal_separator(false)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("pattern {p:?}: {e}"))?;
            b.add(g);
        }
        let set = b.build().map_err(|e| e.to_string())?;
        Ok(Patterns {
            set: Some(set),
            given: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
            hit: vec![false; patterns.len()],
        })
    }

    /// Whether every entry is wanted.
    pub fn is_empty(&self) -> bool {
        self.set.is_none()
    }

    /// Whether `path` (components joined with `/`), or a directory above it, matches; the
    /// volume directory `volume` is tried in front as well. The work is proportional to the
    /// path's length.
    pub fn matches(&self, volume: &str, path: &str) -> bool {
        let Some(set) = &self.set else {
            return true;
        };
        let full = format!("{volume}/{path}");
        let hit =
            |s: &str| set.is_match(s) || s.match_indices('/').any(|(i, _)| set.is_match(&s[..i]));
        hit(path) || hit(&full)
    }

    /// [`Patterns::matches`], remembering every pattern that matched.
    pub fn select(&mut self, volume: &str, path: &str) -> bool {
        let Some(set) = &self.set else {
            return true;
        };
        let full = format!("{volume}/{path}");
        let mut found = Vec::new();
        let mut any = false;
        for s in [path, full.as_str()] {
            let prefixes = s.match_indices('/').map(|(i, _)| &s[..i]);
            for p in std::iter::once(s).chain(prefixes) {
                set.matches_into(p, &mut found);
                for &i in &found {
                    self.hit[i] = true;
                    any = true;
                }
            }
        }
        any
    }

    /// The patterns that have selected nothing so far, as given.
    pub fn unmatched(&self) -> impl Iterator<Item = &str> {
        self.given
            .iter()
            .zip(&self.hit)
            .filter(|(_, h)| !**h)
            .map(|(g, _)| g.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_paths_names_and_directories() {
        let p = Patterns::new(&["docs"]).unwrap();
        assert!(p.matches("C", "docs/a.txt"));
        assert!(!p.matches("C", "docsx/a.txt"));
        let p = Patterns::new(&["*.txt"]).unwrap();
        assert!(p.matches("C", "a/b/c.txt"));
        assert!(!p.matches("C", "a/b/c.bin"));
        let p = Patterns::new(&["C/a/?.txt"]).unwrap();
        assert!(p.matches("C", "a/b.txt"));
        assert!(!p.matches("D", "a/b.txt"));
        assert!(Patterns::new(&["a["]).is_err());
    }

    #[test]
    fn select_remembers_which_patterns_matched() {
        let mut p = Patterns::new(&["docs", "*.bak", "C/x/?"]).unwrap();
        assert!(p.select("C", "docs/a.txt"));
        assert!(!p.select("C", "other/a.txt"));
        assert_eq!(p.unmatched().collect::<Vec<_>>(), ["*.bak", "C/x/?"]);
        assert!(p.select("C", "x/y"));
        assert_eq!(p.unmatched().collect::<Vec<_>>(), ["*.bak"]);
        let mut all = Patterns::new::<&str>(&[]).unwrap();
        assert!(all.select("C", "anything"));
        assert_eq!(all.unmatched().count(), 0);
    }

    #[test]
    fn many_stars_match_in_linear_time() {
        let p = Patterns::new(&["*a*a*a*a*a*a*b"]).unwrap();
        let long = "a".repeat(5000);
        let t = std::time::Instant::now();
        assert!(!p.matches("C", &long));
        assert!(t.elapsed().as_secs() < 2);
    }
}
