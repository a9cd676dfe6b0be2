//! Media given in any order grouped into a media set, each family's continuation media put in
//! sequence, what is missing named, and the backup set merged back into one across them
//! (`media::set::group`); the media are a striped set written by `media` itself.

mod common;

use common::*;
use media::changer::open_path;
use media::set::group::{group_media, merge_sets, MediumIdentity};
use media::set::list_sets;
use mtf::reader::Listing;

#[test]
fn a_striped_set_given_in_any_order_groups_and_merges_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(21, 16, 30_000);
    let (report, set) = backup_tree(dir.path(), 2, 1, 64 * 1024, &t);
    // (family, sequence, listing), every medium of the set.
    let mut media: Vec<(u16, u16, Listing)> = Vec::new();
    for f in &report.families {
        assert!(
            f.used.len() >= 3,
            "family {}: 3 media or more",
            f.family_number
        );
        for u in &f.used {
            let mut d = open_path(u.name.as_ref(), false, Default::default()).unwrap();
            media.push((f.family_number, u.sequence, list_sets(&mut d).unwrap()));
        }
    }
    // Given in an order that is neither by family nor by sequence.
    media.reverse();
    media.rotate_left(1);
    let ids: Vec<MediumIdentity> = media
        .iter()
        .map(|m| MediumIdentity::from_header(&m.2.header))
        .collect();
    let refs: Vec<&Listing> = media.iter().map(|m| &m.2).collect();
    let groups = group_media(&ids);
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert!(g.problems.is_empty(), "{:?}", g.problems);
    assert_eq!(g.media_set_id, Some(set.id));
    assert_eq!(g.family_count, Some(2));
    for fam in &g.families {
        // Each family's media by sequence number, pointing at the right entries.
        let seqs: Vec<u16> = fam.media.iter().map(|&(s, _)| s).collect();
        let n = report.families[fam.family_number as usize - 1].used.len() as u16;
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        for &(s, i) in &fam.media {
            assert_eq!((media[i].0, media[i].1), (fam.family_number, s));
        }
    }
    let merged = merge_sets(g, &refs);
    assert_eq!(merged.len(), 1);
    assert!(merged[0].complete, "{:?}", merged[0].problems);
    assert_eq!(merged[0].parts.len(), media.len());
    // Without family 2's second medium (a gap before its third): named, the set not whole.
    let without: Vec<usize> = (0..media.len())
        .filter(|&i| (media[i].0, media[i].1) != (2, 2))
        .collect();
    let ids2: Vec<MediumIdentity> = without.iter().map(|&i| ids[i].clone()).collect();
    let refs2: Vec<&Listing> = without.iter().map(|&i| refs[i]).collect();
    let g2 = group_media(&ids2);
    assert!(
        g2[0]
            .problems
            .iter()
            .any(|p| p.starts_with("family 2: media 2") && p.ends_with("missing")),
        "{:?}",
        g2[0].problems
    );
    assert!(!merge_sets(&g2[0], &refs2)[0].complete);
    // Without family 1 altogether: the family is named.
    let only2: Vec<MediumIdentity> = ids
        .iter()
        .zip(&media)
        .filter(|(_, m)| m.0 == 2)
        .map(|(i, _)| i.clone())
        .collect();
    let g3 = group_media(&only2);
    assert!(
        g3[0].problems.iter().any(|p| p == "family 1 of 2 missing"),
        "{:?}",
        g3[0].problems
    );
}

/// The copies of a mirrored set's media are its mirrors, not media given twice; more copies
/// than the set has are named.
#[test]
fn a_mirrored_sets_copies_are_not_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(22, 6, 20_000);
    let (report, _) = backup_tree(dir.path(), 1, 2, 1 << 20, &t);
    let ids: Vec<MediumIdentity> = report
        .families
        .iter()
        .flat_map(|f| &f.used)
        .map(|u| {
            let mut d = open_path(u.name.as_ref(), false, Default::default()).unwrap();
            MediumIdentity::from_header(&list_sets(&mut d).unwrap().header)
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|i| i.mirror_count == Some(2)));
    let g = group_media(&ids);
    assert!(g[0].problems.is_empty(), "{:?}", g[0].problems);
    assert_eq!(g[0].families[0].media.len(), 1, "read once");
    let three = [ids[0].clone(), ids[1].clone(), ids[0].clone()];
    assert_eq!(
        group_media(&three)[0].problems,
        vec!["family 1: medium 1 given 3 times, more than the set's 2 copies (read once)"]
    );
}
