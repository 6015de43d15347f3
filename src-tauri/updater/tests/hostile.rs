//! The updater against hostile input: planted and damaged journals, a
//! server that drips bytes or redirects where it must not, offers that can
//! never download, archives whose symlinks climb out through a chain, and a
//! disk that is (or becomes) full. After every refusal the install tree is
//! hashed again and must be byte for byte what it was.
#![cfg(any(target_os = "linux", target_os = "macos"))]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::swap::*;
use common::*;
use hudson_updater::Installer;
use hudson_updater::state::{Journal, Store, SwapRecord, TreeId};
use hudson_updater::{
    CheckOutcome, InstallContext, InstallKind, Layout, NetLimits, Startup, UnpackLimits, UpdateError, startup,
};
use signing::manifest::ManifestKind;
use signing::policy::RefusalKind;

/// Writes `journal` into the app's `state.json`, as a damaged disk or a
/// planted file would.
fn plant(app_data: &Path, journal: Journal) {
    let store = Store::new(app_data);
    let mut state = store.load().unwrap().state;
    state.journal = Some(journal);
    store.save(&state).unwrap();
}

/// A folder that is none of the updater's business, with content to hash.
fn precious(dir: &Path) -> (PathBuf, String) {
    let outside = dir.join("precious");
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("thesis.txt"), "years of work").unwrap();
    fs::write(outside.join("sub/data.bin"), noise(10_000, 3)).unwrap();
    let hash = tree_hash(&outside);
    (outside, hash)
}

fn bogus_tree() -> TreeId {
    TreeId { dev: 1, ino: 2 }
}

#[test]
fn a_planted_journal_naming_folders_outside_the_install_touches_nothing() {
    let env = Env::new();
    let (outside, hash) = precious(env.install.parent().unwrap().parent().unwrap());
    let layout = env.layout();
    let tree = TreeId::of(&env.install).unwrap();
    let real = |name: &str| env.install.parent().unwrap().join(format!(".Hudson.{name}"));
    let snapshot = env.app_data.join("updates/snapshot");
    // What the journal of a genuine update would say; each planted one
    // changes one path to the folder outside.
    let genuine = SwapRecord {
        version: v("0.2.0"),
        previous: v("0.1.0"),
        sequence: 1,
        install: env.install.clone(),
        rollback: real("rollback"),
        old_tree: tree,
        new_tree: bogus_tree(),
        snapshot: snapshot.clone(),
    };
    let planted: Vec<(&str, Journal)> = vec![
        (
            "unpacking into the folder",
            Journal::Unpacking {
                version: v("0.2.0"),
                install: env.install.clone(),
                staging: outside.clone(),
                staged: None,
            },
        ),
        (
            "swapping with it as the staging folder",
            Journal::Swapping { swap: genuine.clone(), staging: outside.clone() },
        ),
        (
            "probation with it as the rollback copy",
            Journal::Probation {
                swap: SwapRecord {
                    rollback: outside.clone(),
                    old_tree: bogus_tree(),
                    new_tree: tree,
                    ..genuine.clone()
                },
                launches: 3,
            },
        ),
        (
            "rolling back into it as the install",
            Journal::RollingBack {
                swap: SwapRecord {
                    install: outside.clone(),
                    old_tree: bogus_tree(),
                    new_tree: TreeId::of(&outside).unwrap(),
                    ..genuine.clone()
                },
                reason: "planted".to_owned(),
            },
        ),
        (
            "rolling back with it as the data snapshot",
            Journal::RollingBack {
                swap: SwapRecord { snapshot: outside.clone(), ..genuine.clone() },
                reason: "planted".to_owned(),
            },
        ),
    ];
    for (what, journal) in planted {
        plant(&env.app_data, journal);
        let Startup::Probation(probation) = startup(&layout, &v("0.1.0"), &Recorder::default()).unwrap() else {
            panic!("{what}: a refused journal starts the install on a health check")
        };
        let said = probation.stuck().unwrap_or_else(|| panic!("{what}: not recorded as stuck"));
        assert!(said.contains(&outside.display().to_string()), "{what}: the message names the path: {said}");
        assert!(said.contains("passes its health check"), "{what}: the way out is said: {said}");
        assert_eq!(tree_hash(&outside), hash, "{what}: the outside folder changed");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{what}: the install changed");
        assert_eq!(probation.version(), &v("0.1.0"), "{what}: what must pass is what runs");
        // The install that starts works: the record goes, updates resume.
        probation.confirm().unwrap();
        assert_eq!(env.journal(), None, "{what}");
        assert_eq!(tree_hash(&outside), hash, "{what}: confirming touched the outside folder");
    }
    // And an update installs again.
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    assert_eq!(tree_hash(&env.install), env.new_hash);
    assert_eq!(tree_hash(&outside), hash);
}

#[test]
fn a_planted_package_journal_cannot_name_files_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (outside, hash) = precious(dir.path());
    let app_data = dir.path().join("app-data");
    let kind = Some(InstallKind::Package(Installer::Deb));
    let layout = Layout::new(&app_data, &app_data, &[PathBuf::from("db/app.sqlite")], kind).unwrap();
    plant(
        &app_data,
        Journal::Package {
            kind: Installer::Deb,
            version: v("0.2.0"),
            previous: v("0.1.0"),
            sequence: 1,
            package: outside.join("thesis.txt"),
            previous_package: None,
            snapshot: app_data.join("updates/snapshot"),
            launches: 0,
        },
    );
    let runner = Recorder::default();
    let Startup::Probation(probation) = startup(&layout, &v("0.1.0"), &runner).unwrap() else { panic!() };
    assert!(probation.stuck().unwrap().contains("kept package"), "{:?}", probation.stuck());
    // The install does not start either: still nothing is touched, and the
    // record stays for the next start.
    let error = probation.fail("it crashed", &mut || Ok(()), &runner).unwrap_err();
    assert!(matches!(error, UpdateError::Stuck { .. }), "{error}");
    assert!(error.to_string().contains("reinstall Hudson"), "{error}");
    assert!(runner.0.borrow().is_empty(), "no package command ran: {:?}", runner.0.borrow());
    assert_eq!(tree_hash(&outside), hash);
    assert!(matches!(startup(&layout, &v("0.1.0"), &runner).unwrap(), Startup::Probation(p) if p.stuck().is_some()));
}

#[test]
fn a_journal_that_can_neither_finish_nor_undo_is_cleared_once_the_install_passes_health() {
    let env = Env::new();
    let layout = env.layout();
    let stage = |name: &str| env.install.parent().unwrap().join(format!(".Hudson.{name}"));
    // Right paths, but the tree at the install path is neither version.
    plant(
        &env.app_data,
        Journal::Swapping {
            swap: SwapRecord {
                version: v("0.2.0"),
                previous: v("0.1.0"),
                sequence: 1,
                install: env.install.clone(),
                rollback: stage("rollback"),
                old_tree: bogus_tree(),
                new_tree: TreeId { dev: 3, ino: 4 },
                snapshot: env.app_data.join("updates/snapshot"),
            },
            staging: stage("staging"),
        },
    );
    let Startup::Probation(probation) = startup(&layout, &v("0.1.0"), &Recorder::default()).unwrap() else {
        panic!("expected a health check")
    };
    assert!(probation.stuck().unwrap().contains("neither the old nor the new version"));
    drop(probation);
    // Updates wait, and say why and what clears it.
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    let error = env.install(env.download("0.1.0"), None).unwrap_err();
    assert!(matches!(error, UpdateError::Stuck { .. }), "{error}");
    assert!(error.to_string().contains("as soon as that copy starts and passes its health check"), "{error}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
    // The next start still offers the way out; passing health takes it.
    let Startup::Probation(probation) = startup(&layout, &v("0.1.0"), &Recorder::default()).unwrap() else { panic!() };
    probation.confirm().unwrap();
    assert_eq!(env.journal(), None);
    env.install(env.download("0.1.0"), None).unwrap();
    assert_eq!(tree_hash(&env.install), env.new_hash);
}

#[test]
fn a_development_run_leaves_an_installed_copys_journal_alone() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    let before = env.journal();
    let dev = Layout::new(&env.app_data, &env.data_dir, &[], None).unwrap();
    let Startup::Normal { warning: Some(warning), .. } = startup(&dev, &v("0.1.0"), &Recorder::default()).unwrap()
    else {
        panic!("a development run must not act on the journal")
    };
    assert!(warning.contains("leaves it alone"), "{warning}");
    assert_eq!(env.journal(), before);
    assert_eq!(tree_hash(&env.install), env.new_hash);
}

fn limits(check: Duration, window: Duration, floor: u64) -> NetLimits {
    NetLimits { check_deadline: check, stall_window: window, min_bytes_per_sec: floor }
}

#[test]
fn a_slow_drip_server_cannot_hold_a_check_past_its_deadline() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    // One byte every 100 ms: the manifest alone would take minutes, and
    // each read returns in time, so only a deadline on the whole ends it.
    env.server.state.lock().unwrap().drip.insert("stable/manifest.json".into(), (1, Duration::from_millis(100)));
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM).with_net_limits(limits(
        Duration::from_secs(2),
        Duration::from_secs(60),
        1,
    ));
    let started = Instant::now();
    let error = u.check().unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, UpdateError::CheckDeadline { secs: 2, .. }), "{error}");
    assert!(error.to_string().contains("took longer than 2 s"), "{error}");
    // Bounded, with room for a loaded machine: far below the minutes the
    // drip would take.
    assert!(took < Duration::from_secs(15), "the check ran {took:?}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
}

#[test]
fn a_download_under_the_throughput_floor_stops_keeps_its_part_and_resumes() {
    let env = Env::new();
    let name = "Hudson-0.2.0-x86_64-unknown-linux-gnu.tar.gz";
    let bytes = noise(200_000, 11);
    let art = artifact(&env.server, name, "0.2.0", bytes.clone(), &release_key().secret);
    publish(&env.server, &manifest(ManifestKind::Release, "0.2.0", 1, &[(PLATFORM, &art)]), &release_key().secret);
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM).with_net_limits(limits(
        Duration::from_secs(45),
        Duration::from_secs(1),
        50_000,
    ));
    let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!() };
    // 1 KB every 100 ms: 10 KB/s, under the 50 KB/s floor.
    env.server.state.lock().unwrap().drip.insert(format!("files/{name}"), (1000, Duration::from_millis(100)));
    let error = u.download(&update, &mut |_| {}).unwrap_err();
    let UpdateError::Interrupted { done, .. } = &error else { panic!("expected Interrupted, got {error}") };
    let text = error.to_string();
    assert!(text.contains("sent only") && text.contains("it resumes where it stopped"), "{text}");
    let part = env.app_data.join(format!("updates/downloads/{name}.part"));
    assert_eq!(fs::metadata(&part).unwrap().len(), *done, "what arrived is kept");
    assert!(*done > 0 && *done < bytes.len() as u64);
    // The server recovers: the download resumes from where it stopped.
    env.server.state.lock().unwrap().drip.clear();
    let downloaded = u.download(&update, &mut |_| {}).unwrap();
    assert_eq!(fs::read(downloaded.path()).unwrap(), bytes);
    let ranges = env.server.requests(&format!("files/{name}"));
    assert_eq!(ranges.last().unwrap().as_deref(), Some(format!("bytes={done}-").as_str()));
}

#[test]
fn a_refused_redirect_says_where_it_pointed_and_why() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    env.server
        .state
        .lock()
        .unwrap()
        .redirect
        .insert("stable/manifest.json".into(), "http://updates.example.net/stable/manifest.json".into());
    let error = u.check().unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, UpdateError::Redirect { .. }), "{text}");
    assert!(text.contains("redirected to http://updates.example.net/stable/manifest.json"), "{text}");
    assert!(text.contains("plain http:// is allowed only for a loopback host"), "{text}");
    assert!(!text.contains("302 Found"), "{text}");
    // A loop of redirects on loopback ends after five.
    {
        let mut state = env.server.state.lock().unwrap();
        state.redirect.insert("stable/manifest.json".into(), env.server.url("hop"));
        state.redirect.insert("hop".into(), env.server.url("stable/manifest.json"));
    }
    let text = u.check().unwrap_err().to_string();
    assert!(text.contains("redirected more than 5 times"), "{text}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
}

#[test]
fn an_offer_that_could_never_download_is_refused_at_the_check() {
    let env = Env::new();
    let name = "Hudson-0.2.0-x86_64-unknown-linux-gnu.tar.gz";
    let mut art = artifact(&env.server, name, "0.2.0", noise(1000, 1), &release_key().secret);
    art.entry.url = format!("http://updates.example.net/files/{name}");
    publish(&env.server, &manifest(ManifestKind::Release, "0.2.0", 1, &[(PLATFORM, &art)]), &release_key().secret);
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    let CheckOutcome::Refused(refusal) = u.check().unwrap() else { panic!("an undownloadable offer was offered") };
    assert_eq!(refusal.kind, RefusalKind::ArtifactUrl);
    assert!(refusal.reason.contains("http://updates.example.net/files/"), "{}", refusal.reason);
    assert!(refusal.reason.contains("plain http://"), "{}", refusal.reason);
    assert_eq!(u.state().unwrap().state.last_seen, None, "a refused manifest is not remembered");
}

#[test]
fn a_symlink_chain_that_leaves_the_tree_is_refused() {
    use tar::EntryType::{Directory, Regular, Symlink};
    // Judged one by one each link stays inside; followed, `esc` is the
    // tree's parent (`u` is the tree's root).
    let archive = hostile(&[
        ("Hudson/a/", Directory, "", b""),
        ("Hudson/a/b/", Directory, "", b""),
        ("Hudson/a/b/u", Symlink, "../..", b""),
        ("Hudson/a/b/esc", Symlink, "u/..", b""),
        ("Hudson/a/b/file", Regular, "", b"x"),
    ]);
    let env = Env::new();
    env.publish_tree("0.2.0", 1, archive);
    let error = env.install(env.download("0.1.0"), None).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, UpdateError::Unpack { .. }), "{text}");
    assert!(text.contains("a/b/esc") && text.contains("outside the tree"), "{text}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert!(!env.sibling("staging").exists());
    assert_eq!(env.journal(), None);
}

/// A GNU long-name entry then an entry it names.
fn long_named(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut builder, "././@LongLink", tar::EntryType::GNULongName, "", name);
    raw_entry(&mut builder, "placeholder", tar::EntryType::Regular, "", data);
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn long_names_are_bounded_and_shortened_in_messages() {
    let env = Env::new();
    // Under the limit but escaping: refused, and the message stays short.
    let long = format!("Hudson/{}../../escaped", "x/".repeat(1500));
    env.publish_tree("0.2.0", 1, long_named(long.as_bytes(), b"x"));
    let text = env.install(env.download("0.1.0"), None).unwrap_err().to_string();
    assert!(text.contains("`..` is not allowed"), "{text}");
    assert!(text.len() < 600, "{} characters: {text}", text.len());
    // Over the limit: refused by its declared size.
    let env = Env::new();
    let huge = format!("Hudson/{}", "y".repeat(5000));
    env.publish_tree("0.2.0", 1, long_named(huge.as_bytes(), b"x"));
    let text = env.install(env.download("0.1.0"), None).unwrap_err().to_string();
    assert!(text.contains("declares 5007 bytes, over the 4096-byte limit"), "{text}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert!(!env.sibling("staging").exists());

    // A long name within the limit is honoured (dist's archives use them).
    let env = Env::new();
    let deep = format!("Hudson/{}/file", "d".repeat(150));
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut builder, "Hudson/hudson-shell.json", tar::EntryType::Regular, "", b"{\"version\":\"0.2.0\"}");
    raw_entry(&mut builder, "././@LongLink", tar::EntryType::GNULongName, "", deep.as_bytes());
    raw_entry(&mut builder, "placeholder", tar::EntryType::Regular, "", b"deep");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    env.publish_tree("0.2.0", 1, gz.finish().unwrap());
    env.install(env.download("0.1.0"), None).unwrap();
    assert_eq!(fs::read(env.install.join(format!("{}/file", "d".repeat(150)))).unwrap(), b"deep");
}

// ------------------------------------------------------------ a full disk

/// A small tmpfs mounted for one test (root only), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// `None` (with the reason printed) when this user cannot mount one.
    fn mount(megabytes: u64) -> Option<Tmpfs> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: a full disk is tested on a small tmpfs, and mounting one needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs(dir)),
            other => {
                eprintln!("skipped: cannot mount a tmpfs here ({other:?})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

const DEB: &str = "hudson_0.2.0_amd64.deb";

/// A deb of 0.2.0 of `size` bytes, published and offered to 0.1.0.
fn offered_deb(app_data: &Path, size: usize) -> (Server, hudson_updater::Updater, hudson_updater::Update) {
    let server = Server::start();
    let art = artifact(&server, DEB, "0.2.0", noise(size, size as u64), &release_key().secret);
    publish(
        &server,
        &manifest(ManifestKind::Release, "0.2.0", 1, &[("linux-x86_64-deb", &art)]),
        &release_key().secret,
    );
    let u = updater(&server, app_data, "0.1.0", "linux-x86_64-deb");
    let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!("expected an offer") };
    (server, u, update)
}

#[test]
fn an_update_that_cannot_fit_is_refused_with_the_numbers_and_writes_nothing() {
    let Some(disk) = Tmpfs::mount(24) else { return };
    let app_data = disk.path().join("app-data");
    let (server, u, update) = offered_deb(&app_data, 30 << 20);
    let error = u.download(&update, &mut |_| {}).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, UpdateError::NoSpace { .. }), "{text}");
    assert!(text.contains("needs 50 MB free on the disk holding"), "{text}");
    assert!(text.contains("MB are free"), "{text}");
    let mut left: Vec<_> = fs::read_dir(app_data.join("updates")).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["downloads", "state.json"], "nothing but the state was written");
    assert_eq!(fs::read_dir(app_data.join("updates/downloads")).unwrap().count(), 0, "nor any download");
    assert!(server.requests(&format!("files/{DEB}")).is_empty(), "not even a request");
}

#[test]
fn an_archive_that_unpacks_past_the_free_space_is_refused_before_the_install_is_touched() {
    let Some(disk) = Tmpfs::mount(32) else { return };
    // The install on the small disk; the archive is small (zeros compress)
    // but unpacks to 40 MB.
    let env = Env::new();
    let install = disk.path().join("apps/Hudson");
    write_tree(&install, "0.1.0");
    let old = tree_hash(&install);
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut builder, "Hudson/hudson-shell.json", tar::EntryType::Regular, "", b"{\"version\":\"0.2.0\"}");
    raw_entry(&mut builder, "Hudson/big", tar::EntryType::Regular, "", &vec![0u8; 40 << 20]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    env.publish_tree("0.2.0", 1, gz.finish().unwrap());
    let downloaded = env.download("0.1.0");
    let layout =
        Layout::new(&env.app_data, &env.data_dir, &[], Some(InstallKind::FolderSwap { install: install.clone() }))
            .unwrap();
    let mut stopped = false;
    let ctx = InstallContext {
        check_staged: &|_| Ok(()),
        stop_backend: &mut || {
            stopped = true;
            Ok(())
        },
        runner: &Recorder::default(),
        limits: UnpackLimits::default(),
        crash_hook: None,
    };
    let error = updater(&env.server, &env.app_data, "0.1.0", PLATFORM).install(downloaded, &layout, ctx).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, UpdateError::NoSpace { .. }), "{text}");
    assert!(text.contains(&format!("on the disk holding {}", disk.path().join("apps").display())), "{text}");
    assert!(!stopped, "the backend keeps running");
    assert_eq!(tree_hash(&install), old);
    assert!(!disk.path().join("apps/.Hudson.staging").exists());
    assert_eq!(env.journal(), None);
}

#[test]
fn a_part_that_hit_a_full_disk_is_removed_and_the_state_can_still_be_written() {
    let Some(disk) = Tmpfs::mount(32) else { return };
    let app_data = disk.path().join("app-data");
    let (server, u, update) = offered_deb(&app_data, 4 << 20);
    // Something else fills the disk between the space check and the body,
    // leaving 256 KiB.
    let filler = disk.path().join("filler");
    let wanted = format!("files/{DEB}");
    let at = filler.clone();
    server.state.lock().unwrap().on_request = Some(Box::new(move |path| {
        if path == wanted {
            let free = fs4::available_space(at.parent().unwrap()).unwrap();
            let file = fs::File::create(&at).unwrap();
            file.set_len(0).unwrap();
            let mut left = free.saturating_sub(256 << 10);
            let chunk = vec![0xA5u8; 1 << 20];
            let mut out = std::io::BufWriter::new(file);
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if std::io::Write::write_all(&mut out, &chunk[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = std::io::Write::flush(&mut out);
        }
    }));
    let error = u.download(&update, &mut |_| {}).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, UpdateError::DiskFull { .. }), "{text}");
    assert!(text.contains("filled up") && text.contains("was removed"), "{text}");
    assert!(!app_data.join(format!("updates/downloads/{DEB}.part")).exists(), "the .part is gone");
    // The disk is still nearly full, yet the app's state can be written.
    server.state.lock().unwrap().on_request = None;
    assert!(matches!(u.check().unwrap(), CheckOutcome::Offered(_)));
    fs::remove_file(&filler).unwrap();
}

// ------------------------------------------------- a journal that lies

#[test]
fn a_planted_probation_for_another_version_cannot_roll_a_good_version_back() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    let Startup::Probation(p) = env.startup("0.2.0") else { panic!() };
    p.confirm().unwrap();
    // 0.2.0 runs, confirmed; its rollback copy holds 0.1.0. A planted
    // probation, past its launches, for a version that is not running.
    let rollback = env.sibling("rollback");
    for (version, launches) in [("0.3.0", 3), ("0.2.0", u32::MAX)] {
        plant(
            &env.app_data,
            Journal::Probation {
                swap: SwapRecord {
                    version: v(version),
                    previous: v("0.1.0"),
                    sequence: 9,
                    install: env.install.clone(),
                    rollback: rollback.clone(),
                    old_tree: TreeId::of(&rollback).unwrap(),
                    new_tree: TreeId::of(&env.install).unwrap(),
                    snapshot: env.app_data.join("updates/snapshot"),
                },
                launches,
            },
        );
        let started = startup(&env.layout(), &v("0.2.0"), &Recorder::default()).unwrap();
        match (version, started) {
            ("0.3.0", Startup::Probation(p)) => {
                assert!(p.stuck().unwrap().contains("has 0.3.0 on probation, but this is Hudson 0.2.0"));
                p.confirm().unwrap();
            }
            // The running version's own probation, its counter at the
            // top: counted without overflowing, then rolled back as any
            // crash loop is (the rollback copy is genuine).
            ("0.2.0", Startup::Normal { notice: Some(notice), .. }) => {
                assert!(notice.reason.contains("did not start successfully"), "{}", notice.reason);
            }
            (_, other) => panic!("{version}: {other:?}"),
        }
        if version == "0.3.0" {
            assert_eq!(tree_hash(&env.install), env.new_hash, "nothing was rolled back");
            let state = Store::new(&env.app_data).load().unwrap().state;
            assert!(state.is_bad(&v("0.2.0")).is_none(), "the good version is not marked bad");
        }
    }
}

#[test]
fn a_rollback_that_cannot_restore_the_data_keeps_its_journal_and_says_so() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    let Startup::Probation(p) = env.startup("0.2.0") else { panic!() };
    fs::write(env.data_dir.join(DB), "schema 2").unwrap();
    // The snapshot's copy of the database is lost: the rollback must not
    // pretend it restored anything.
    let copy = env.app_data.join("updates/snapshot/files").join(DB);
    let saved = fs::read(&copy).unwrap();
    fs::remove_file(&copy).unwrap();
    assert!(p.fail("healthz timed out", &mut || Ok(()), &Recorder::default()).is_err());
    let error = startup(&env.layout(), &v("0.1.0"), &Recorder::default()).unwrap_err();
    assert!(matches!(error, UpdateError::RollbackUnfinished { .. }), "{error}");
    assert!(error.to_string().contains("does not start its backend"), "{error}");
    assert!(matches!(env.journal(), Some(Journal::RollingBack { .. })), "the journal stays for the next start");
    assert_eq!(fs::read_to_string(env.data_dir.join(DB)).unwrap(), "schema 2", "nothing half-restored");
    // The cause fixed, the next start finishes the rollback.
    fs::write(&copy, saved).unwrap();
    assert!(matches!(env.startup("0.1.0"), Startup::Normal { notice: Some(_), .. }));
    assert_eq!(env.data(), "schema 1");
    assert_eq!(tree_hash(&env.install), env.old_hash);
}

#[test]
fn deep_trees_and_folders_with_data_are_refused_while_unpacking() {
    use tar::EntryType::{Directory, Regular};
    let deep = format!("Hudson/{}f", "d/".repeat(200));
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", Directory, "", b"");
    raw_entry(&mut builder, "././@LongLink", tar::EntryType::GNULongName, "", deep.as_bytes());
    raw_entry(&mut builder, "placeholder", Regular, "", b"x");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    for (what, archive, said) in [
        ("deep", gz.finish().unwrap(), "more than 128 folders deep"),
        ("folder with data", hostile(&[("Hudson/dir/", Directory, "", &[0u8; 4096])]), "declares 4096 bytes"),
    ] {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, archive);
        let text = env.install(env.download("0.1.0"), None).unwrap_err().to_string();
        assert!(text.contains(said), "{what}: {text}");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{what}");
    }
}

/// The download's file name is the offer URL's last segment: a signed offer
/// whose URL ends in the name of one of the updater's own files (the state,
/// the data snapshot, the kept packages) must neither replace nor delete it.
#[test]
fn an_offer_named_like_the_updaters_own_files_cannot_replace_them() {
    for name in ["state.json", "snapshot", "packages"] {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        env.install(env.download("0.1.0"), None).unwrap();
        // On probation, with the snapshot the rollback needs.
        let Startup::Probation(probation) = env.startup("0.2.0") else { panic!("expected probation") };
        fs::write(env.data_dir.join(DB), "schema 2").unwrap();
        let updates = env.app_data.join("updates");
        fs::create_dir_all(updates.join("packages")).unwrap();
        fs::write(updates.join("packages/keep-me"), "kept").unwrap();

        let art = artifact(&env.server, name, "0.3.0", tree_tar_gz("0.3.0", "Hudson"), &release_key().secret);
        publish(&env.server, &manifest(ManifestKind::Release, "0.3.0", 2, &[(PLATFORM, &art)]), &release_key().secret);
        let u = updater(&env.server, &env.app_data, "0.2.0", PLATFORM);
        let before = u.state().unwrap().state;
        let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!("{name}: expected an offer") };
        let downloaded = u.download(&update, &mut |_| {}).unwrap();
        assert_eq!(downloaded.path(), updates.join("downloads").join(name), "{name}");

        let after = u.state().unwrap();
        assert!(after.warning.is_none(), "{name}: {:?}", after.warning);
        assert_eq!(after.state.install_id, before.install_id, "{name}");
        assert_eq!(after.state.last_seen.map(|s| s.sequence), Some(2), "{name}");
        assert_eq!(fs::read_to_string(updates.join("packages/keep-me")).unwrap(), "kept", "{name}");
        let rolled = probation.fail("healthz never answered", &mut || Ok(()), &Recorder::default()).unwrap();
        assert!(rolled.restored, "{name}");
        assert_eq!(env.data(), "schema 1", "{name}: the rollback put the data from before the update back");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{name}");
    }
}

/// An entry's path makes every folder above it: 300 entries 110 folders
/// deep would make 33 000 folders under a 1 000-entry cap (and, at the
/// default caps, tens of millions). Those folders count as entries, in the
/// survey that sizes the install and while unpacking.
#[test]
fn folders_an_entrys_path_makes_count_against_the_entry_cap() {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut builder, "Hudson/hudson-shell.json", tar::EntryType::Regular, "", b"{\"version\":\"0.2.0\"}");
    for i in 0..300 {
        let deep = format!("Hudson/{i:04}/{}", "a/".repeat(110));
        raw_entry(&mut builder, "././@LongLink", tar::EntryType::GNULongName, "", deep.as_bytes());
        raw_entry(&mut builder, "placeholder", tar::EntryType::Directory, "", b"");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    let env = Env::new();
    env.publish_tree("0.2.0", 1, gz.finish().unwrap());
    let downloaded = env.download("0.1.0");
    let limits = UnpackLimits { max_bytes: 1 << 30, max_entries: 1000 };
    let ctx = InstallContext {
        check_staged: &|_| Ok(()),
        stop_backend: &mut || Ok(()),
        runner: &Recorder::default(),
        limits,
        crash_hook: None,
    };
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    let text = u.install(downloaded, &env.layout(), ctx).unwrap_err().to_string();
    assert!(text.contains("it makes more than 1000 entries, its folders included"), "{text}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert!(!env.sibling("staging").exists(), "nothing was unpacked");
}
