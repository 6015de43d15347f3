//! Downloads against a real loopback server: verified in the same pass,
//! resumed with `Range` after an interruption, never under the final name
//! unless verified.

mod common;

use std::fs;

use common::*;
use hudson_updater::{CheckOutcome, Progress, Update, UpdateError};
use signing::manifest::ManifestKind;
use signing::policy::DownloadRefused;

const NAME: &str = "hudson_0.2.0_amd64.deb";
const SIZE: usize = 300_000;

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
    art: Artifact,
    update: Update,
}

fn fixture() -> Fixture {
    let server = Server::start();
    let art = artifact(&server, NAME, "0.2.0", noise(SIZE, 7), &release_key().secret);
    publish(
        &server,
        &manifest(ManifestKind::Release, "0.2.0", 1, &[("linux-x86_64-deb", &art)]),
        &release_key().secret,
    );
    let dir = tempfile::tempdir().unwrap();
    let CheckOutcome::Offered(update) = updater(&server, dir.path(), "0.1.0", "linux-x86_64-deb").check().unwrap()
    else {
        panic!("expected an offer")
    };
    Fixture { server, dir, art, update }
}

fn downloads(f: &Fixture) -> std::path::PathBuf {
    f.dir.path().join("updates/downloads")
}

#[test]
fn a_download_is_verified_and_only_then_named() {
    let f = fixture();
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let mut seen = Vec::new();
    let downloaded = u.download(&f.update, &mut |p| seen.push(p)).unwrap();
    assert_eq!(downloaded.path(), downloads(&f).join(NAME));
    assert_eq!(fs::read(downloaded.path()).unwrap(), f.art.bytes);
    assert!(!downloads(&f).join(format!("{NAME}.part")).exists());
    assert_eq!(seen.last(), Some(&Progress { done: SIZE as u64, total: SIZE as u64 }));
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done), "progress never goes back");
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let f = fixture();
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    f.server.state.lock().unwrap().cut = Some((format!("files/{NAME}"), 100_000));
    let error = u.download(&f.update, &mut |_| {}).unwrap_err();
    let UpdateError::Interrupted { done, .. } = error else { panic!("expected an interruption, got {error}") };
    assert!((100_000 - 65_536..=100_000).contains(&done), "{done}");
    let part = downloads(&f).join(format!("{NAME}.part"));
    assert_eq!(fs::read(&part).unwrap(), f.art.bytes[..done as usize], "the part keeps exactly what arrived");
    assert!(!downloads(&f).join(NAME).exists(), "an unverified file never has the final name");

    let mut first = None;
    let downloaded = u
        .download(&f.update, &mut |p| {
            first.get_or_insert(p);
        })
        .unwrap();
    assert_eq!(fs::read(downloaded.path()).unwrap(), f.art.bytes);
    assert_eq!(first, Some(Progress { done, total: SIZE as u64 }), "progress starts where it stopped");
    let ranges = f.server.requests(&format!("files/{NAME}"));
    assert_eq!(ranges, vec![None, Some(format!("bytes={done}-"))]);
}

#[test]
fn a_server_without_ranges_restarts_from_zero() {
    let f = fixture();
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    f.server.state.lock().unwrap().cut = Some((format!("files/{NAME}"), 50_000));
    assert!(u.download(&f.update, &mut |_| {}).is_err());
    f.server.state.lock().unwrap().ignore_range = true;
    let downloaded = u.download(&f.update, &mut |_| {}).unwrap();
    assert_eq!(fs::read(downloaded.path()).unwrap(), f.art.bytes, "200 must not be appended to the part");
}

#[test]
fn a_flipped_byte_is_refused_and_the_part_deleted() {
    let f = fixture();
    let mut bad = f.art.bytes.clone();
    bad[SIZE / 2] ^= 0x01;
    f.server.put(&format!("files/{NAME}"), bad);
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let error = u.download(&f.update, &mut |_| {}).unwrap_err();
    assert!(
        matches!(error, UpdateError::DownloadRefused { source: DownloadRefused::Sha256Mismatch { .. }, .. }),
        "{error}"
    );
    assert_eq!(fs::read_dir(downloads(&f)).unwrap().count(), 0, "nothing is left of the refused download");
    assert!(f.dir.path().join("updates/state.json").is_file());
}

#[test]
fn a_truncated_or_overlong_artifact_is_refused() {
    let f = fixture();
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    f.server.put(&format!("files/{NAME}"), f.art.bytes[..SIZE - 10].to_vec());
    // The server says how long its file is: refused before its body is read.
    let error = u.download(&f.update, &mut |_| {}).unwrap_err();
    let UpdateError::WrongSize { declared, expected, .. } = error else { panic!("expected WrongSize, got {error}") };
    assert_eq!((declared, expected), (SIZE as u64 - 10, SIZE as u64));
    assert!(error_text(&u, &f).contains(&format!("as {} bytes", SIZE - 10)));
    assert!(!downloads(&f).join(format!("{NAME}.part")).exists());

    // Without a Content-Length the body itself is measured.
    f.server.state.lock().unwrap().no_length = true;
    let error = u.download(&f.update, &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            error,
            UpdateError::DownloadRefused { source: DownloadRefused::SizeMismatch { complete: true, .. }, .. }
        ),
        "{error}"
    );
    assert!(!downloads(&f).join(format!("{NAME}.part")).exists());

    let mut longer = f.art.bytes.clone();
    longer.extend_from_slice(&noise(1 << 20, 9));
    f.server.put(&format!("files/{NAME}"), longer);
    let error = u.download(&f.update, &mut |_| {}).unwrap_err();
    let UpdateError::DownloadRefused { source: DownloadRefused::SizeMismatch { complete: false, actual, .. }, .. } =
        error
    else {
        panic!("expected a size refusal, got {error}")
    };
    assert_eq!(actual, SIZE as u64 + 1, "reading stops one byte past the offer");
    assert!(!downloads(&f).join(format!("{NAME}.part")).exists());
}

fn error_text(u: &hudson_updater::Updater, f: &Fixture) -> String {
    u.download(&f.update, &mut |_| {}).unwrap_err().to_string()
}

#[test]
fn an_artifact_signed_by_an_unknown_key_is_refused() {
    let f = fixture();
    let foreign = artifact(&f.server, NAME, "0.2.0", noise(SIZE, 7), &stranger_key().secret);
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.2.0", 2, &[("linux-x86_64-deb", &foreign)]),
        &release_key().secret,
    );
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!() };
    let error = u.download(&update, &mut |_| {}).unwrap_err();
    assert!(
        matches!(error, UpdateError::DownloadRefused { source: DownloadRefused::UnknownKey { .. }, .. }),
        "{error}"
    );
}

#[test]
fn a_tampered_file_under_the_final_name_is_not_trusted() {
    let f = fixture();
    let u = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let path = u.download(&f.update, &mut |_| {}).unwrap().path().to_path_buf();
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let again = u.download(&f.update, &mut |_| {}).unwrap();
    assert_eq!(fs::read(again.path()).unwrap(), f.art.bytes, "re-downloaded rather than trusted");
    assert_eq!(f.server.requests(&format!("files/{NAME}")).len(), 2);
}
