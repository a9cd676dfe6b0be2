// The medium the crate documentation's examples read: written by the writer, in memory.
{
    use mtf::writer::{EntryMeta, MediumOptions, MemorySink, SetOptions, VolumeOptions, Writer};
    let when = mtf::DateTime::from_unix(1_700_000_000).unwrap();
    let mut w = Writer::new(MemorySink::default(), MediumOptions::new("media", 7, when)).unwrap();
    let mut set = SetOptions::new("nightly", when);
    set.checksums = true;
    w.begin_set(set).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        ..Default::default()
    })
    .unwrap();
    let meta = EntryMeta::with_dates(Some(when), when);
    w.add_directory::<&str>(&[], &meta).unwrap();
    w.add_file("hello.txt", &meta, 6, &mut &b"hello\n"[..]).unwrap();
    w.end_set().unwrap();
    w.finish().unwrap().data
}
