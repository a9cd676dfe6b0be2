//! Extraction with hostile names: a medium is built block by block with volume, directory and
//! file names from a corpus of tricks (`..`, absolute paths, drive letters, NUL, separators,
//! overlong names, Unicode look-alikes and controls; `@ROOT@` is the sandbox's own path) or
//! from arbitrary bytes, in the blocks or in PNAM/FNAM streams. `mtfdump extract` restores every
//! set into `out/` inside a fresh sandbox where `out/C` and `out/volume1` are planted symlinks to
//! a `victim/` directory. Nothing may be written anywhere but under `out/` (and never through
//! the symlinks); no file or directory named like the escapes may appear in the sandbox, its
//! parent, the working directory or `/`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mtf::spec::StringType;
use mtf::text::encode_str;
use mtf_examples::dump::{extract::extract, list_media, Options};
use mtf_fuzz::medium::MediumBuilder;
use mtf_fuzz::HOSTILE_NAMES;
use std::path::{Path, PathBuf};

#[derive(Arbitrary, Debug)]
struct Plan {
    ansi: bool,
    strict: bool,
    sets: Vec<Vec<Vol>>,
}

#[derive(Arbitrary, Debug)]
struct Vol {
    device: Name,
    dirs: Vec<Dir>,
}

#[derive(Arbitrary, Debug)]
struct Dir {
    components: Vec<Name>,
    in_stream: bool,
    files: Vec<FileEntry>,
}

#[derive(Arbitrary, Debug)]
struct FileEntry {
    name: Name,
    in_stream: bool,
    continuation: bool,
    data: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Hostile(u8),
    /// Two hostile names joined (a component that is itself a path).
    Joined(u8, u8),
    Text(String),
    /// Raw bytes as stored (any encoding, odd lengths, NULs).
    Raw(Vec<u8>),
    /// A name of `n % 600 + 200` characters.
    Long(char, u16),
}

impl Name {
    fn text(&self, root: &str) -> Option<String> {
        let pick =
            |i: &u8| HOSTILE_NAMES[*i as usize % HOSTILE_NAMES.len()].replace("@ROOT@", root);
        match self {
            Name::Hostile(i) => Some(pick(i)),
            Name::Joined(a, b) => Some(format!("{}/{}", pick(a), pick(b))),
            Name::Text(s) => Some(s.clone()),
            Name::Raw(_) => None,
            Name::Long(c, n) => Some(std::iter::repeat_n(*c, (*n % 600) as usize + 200).collect()),
        }
    }

    fn raw(&self, root: &str, st: StringType) -> Vec<u8> {
        match (self, self.text(root)) {
            (Name::Raw(b), _) => b.clone(),
            (_, Some(s)) => encode_str(&s, st),
            _ => Vec::new(),
        }
    }
}

/// Every path under `dir` (not following symlinks).
fn tree(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            tree(&p, out);
        }
    }
}

fn escaped_names_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.contains("escaped") || n.contains("depacse")
                })
                .collect()
        })
        .unwrap_or_default()
}

fuzz_target!(|plan: Plan| {
    let st = if plan.ansi {
        StringType::ANSI
    } else {
        StringType::UNICODE
    };
    let sandbox = tempfile::tempdir().expect("a temp dir");
    let sb = sandbox.path().canonicalize().unwrap();
    let root = sb.to_string_lossy().into_owned();
    let out = sb.join("out");
    let victim = sb.join("victim");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::create_dir_all(sb.join("media")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("C")).unwrap();
    std::os::unix::fs::symlink("../victim", out.join("volume1")).unwrap();

    // The medium.
    let mut m = MediumBuilder::new(st);
    let mut nsets = 0u16;
    for (k, set) in plan.sets.iter().take(2).enumerate() {
        let number = k as u16 + 1;
        m.sset(number, "hostile");
        for v in set.iter().take(3) {
            m.volb(v.device.raw(&root, st));
            for d in v.dirs.iter().take(4) {
                let mut path = Vec::new();
                for c in d.components.iter().take(4) {
                    path.extend(c.raw(&root, st));
                    path.extend(encode_str("\0", st));
                }
                if path.is_empty() {
                    path = encode_str("\0", st);
                }
                m.dirb(path, d.in_stream);
                for f in d.files.iter().take(4) {
                    let data = &f.data[..f.data.len().min(4096)];
                    m.file(f.name.raw(&root, st), f.in_stream, data, f.continuation);
                }
            }
        }
        m.eset(number);
        nsets += 1;
    }
    let medium = sb.join("media").join("m.bkf");
    std::fs::write(&medium, &m.bytes).unwrap();

    let before_root = escaped_names_in(Path::new("/"));
    let before_cwd = escaped_names_in(Path::new("."));
    let before_parent = escaped_names_in(sb.parent().unwrap());

    let opts = Options {
        json: false,
        strict: plan.strict,
        progress: false,
    };
    if let Ok(media) = list_media(std::slice::from_ref(&medium), &opts) {
        for set in 1..=nsets as usize + 1 {
            let _ = extract(&media, set, &out, &[], &opts);
        }
    }

    // Nothing outside out/ (the medium aside), nothing through the symlinks.
    let mut all = Vec::new();
    tree(&sb, &mut all);
    for p in &all {
        let ok = p.starts_with(&out) || p == &victim || p == &sb.join("media") || p == &medium;
        assert!(ok, "written outside the target: {}", p.display());
    }
    assert!(
        std::fs::read_dir(&victim).unwrap().next().is_none(),
        "written through a planted symlink into {}",
        victim.display()
    );
    assert_eq!(
        escaped_names_in(Path::new("/")),
        before_root,
        "escaped to /"
    );
    assert_eq!(
        escaped_names_in(Path::new(".")),
        before_cwd,
        "escaped to the working directory"
    );
    assert_eq!(
        escaped_names_in(sb.parent().unwrap()),
        before_parent,
        "escaped next to the sandbox"
    );
});
