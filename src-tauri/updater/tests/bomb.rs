//! Extension-header bombs: a signed archive of about a megabyte whose GNU
//! long name (or PAX record) declares a gigabyte. The unpacker must refuse
//! it by the declared size, before reading or allocating it, and the peak
//! memory of this process is measured around the install to prove it.
//!
//! Its own test binary, with one test: the peak resident set size
//! (`VmHWM`) is per process, so no other test may run beside it.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;

use common::swap::*;
use common::*;
use hudson_updater::UpdateError;

const GIB: u64 = 1 << 30;

/// A gzipped tar: the top folder, then an extension header of `kind`
/// declaring `declared` bytes and carrying them (zeros compress ~1000:1),
/// then the entry it describes.
fn bomb(kind: tar::EntryType, declared: u64) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut header = |name: &str, kind: tar::EntryType, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
    };
    header("Hudson/", tar::EntryType::Directory, 0);
    header("././@LongLink", kind, declared);
    let chunk = vec![b'a'; 1 << 20];
    let mut left = declared;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&vec![0u8; ((512 - declared % 512) % 512) as usize]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..8].copy_from_slice(b"Hudson/x");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    gz.write_all(b"x").unwrap();
    gz.write_all(&[0u8; 511 + 1024]).unwrap();
    gz.finish().unwrap()
}

/// `VmHWM` of this process, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets `VmHWM` to the current resident size (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn a_gigabyte_long_name_or_pax_record_is_refused_in_bounded_memory() {
    for (what, kind) in [("GNU long name", tar::EntryType::GNULongName), ("PAX record", tar::EntryType::XHeader)] {
        let env = Env::new();
        let archive = bomb(kind, GIB);
        assert!(archive.len() < 4 << 20, "{what}: the bomb is small ({} bytes)", archive.len());
        env.publish_tree("0.2.0", 1, archive);
        let downloaded = env.download("0.1.0");
        let reset = reset_peak();
        let before = peak_kib();
        let error = env.install(downloaded, None).unwrap_err();
        let peak = peak_kib();
        let text = error.to_string();
        assert!(matches!(error, UpdateError::Unpack { .. }), "{what}: {text}");
        assert!(text.contains(&format!("declares {GIB} bytes, over the")), "{what}: {text}");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{what}");
        assert!(!env.sibling("staging").exists(), "{what}");
        let grew = peak.saturating_sub(before);
        eprintln!(
            "{what} bomb ({GIB} bytes declared): peak RSS {} MiB during the install ({} MiB above the start{})",
            peak / 1024,
            grew / 1024,
            if reset { "" } else { "; VmHWM could not be reset" }
        );
        // A gigabyte read into memory would show here; the bounded reader
        // allocates a few buffers.
        assert!(grew < 64 << 10, "{what}: the install's peak grew by {} MiB", grew / 1024);
    }
}
