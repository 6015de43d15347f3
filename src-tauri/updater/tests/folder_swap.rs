//! Folder swap end to end on this machine: check, download, unpack, atomic
//! exchange, probation, rollback — and a crash at every step, after which
//! recovery leaves the install exactly the old or exactly the new tree.
#![cfg(any(target_os = "linux", target_os = "macos"))]

mod common;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::swap::*;
use common::*;
use hudson_updater::install::Step;
use hudson_updater::recovery::startup_with_hook;
use hudson_updater::state::{Journal, Store};
use hudson_updater::{CheckOutcome, InstallContext, Startup, UnpackLimits, UpdateError};
use signing::manifest::ManifestKind;

const ARCHIVE: &str = "Hudson-0.2.0-x86_64-unknown-linux-gnu.tar.gz";

#[test]
fn an_update_swaps_in_the_new_tree_and_keeps_the_old_as_rollback_copy() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    let installed = env.install(env.download("0.1.0"), None).unwrap();
    assert_eq!(installed.version, v("0.2.0"));
    assert_eq!(tree_hash(&env.install), env.new_hash);
    assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash);
    assert!(!env.sibling("staging").exists());
    assert!(matches!(env.journal(), Some(Journal::Probation { launches: 0, .. })));

    let Startup::Probation(probation) = env.startup("0.2.0") else { panic!("the first launch is on probation") };
    assert_eq!(probation.version(), &v("0.2.0"));
    assert_eq!(probation.launches(), 1);
    probation.confirm().unwrap();
    assert_eq!(env.journal(), None);
    assert!(matches!(env.startup("0.2.0"), Startup::Normal { notice: None, .. }));
    assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash, "the rollback copy stays after confirmation");
}

#[test]
fn a_failed_probation_restores_tree_and_data_and_marks_the_version_bad() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    let Startup::Probation(probation) = env.startup("0.2.0") else { panic!() };
    // The new version migrates the data, then its NIF fails.
    fs::write(env.data_dir.join(DB), "schema 2").unwrap();
    fs::write(env.data_dir.join("db/app.sqlite-wal"), "new wal").unwrap();
    let mut stopped = 0;
    let rolled = probation
        .fail(
            "a native module did not load",
            &mut || {
                stopped += 1;
                Ok(())
            },
            &Recorder::default(),
        )
        .unwrap();
    assert_eq!(stopped, 1, "the new backend is stopped before its tree is swapped out");
    assert!(rolled.restored);
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert_eq!(env.data(), "schema 1");
    assert!(!env.data_dir.join("db/app.sqlite-wal").exists(), "a file the new version made is removed");
    assert!(!env.sibling("rollback").exists() && !env.sibling("staging").exists());
    let Startup::Normal { notice: Some(notice), .. } = env.startup("0.1.0") else { panic!("the window must be told") };
    assert_eq!((notice.version.clone(), notice.restored.clone()), (v("0.2.0"), v("0.1.0")));
    assert_eq!(notice.reason, "a native module did not load");
    hudson_updater::dismiss_notice(&env.app_data).unwrap();
    assert!(matches!(env.startup("0.1.0"), Startup::Normal { notice: None, .. }));

    // 0.2.0 is not offered again, even by a newer manifest; 0.3.0 is.
    env.publish_tree("0.2.0", 2, tree_tar_gz("0.2.0", "Hudson"));
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    assert!(matches!(u.check().unwrap(), CheckOutcome::BadVersion { .. }));
    env.publish_tree("0.3.0", 3, tree_tar_gz("0.3.0", "Hudson"));
    assert!(matches!(u.check().unwrap(), CheckOutcome::Offered(update) if update.version == v("0.3.0")));
}

#[test]
fn a_crash_loop_on_probation_rolls_back_by_itself() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    fs::write(env.data_dir.join(DB), "schema 2").unwrap();
    for launch in 1..=3 {
        let Startup::Probation(p) = env.startup("0.2.0") else { panic!("launch {launch} is still on probation") };
        assert_eq!(p.launches(), launch);
        // The new version dies before it can confirm or fail.
    }
    let Startup::Normal { notice: Some(notice), .. } = env.startup("0.2.0") else { panic!("expected a rollback") };
    assert!(notice.reason.contains("did not start successfully in 3 attempts"), "{}", notice.reason);
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert_eq!(env.data(), "schema 1");
}

/// A crash at each step of the install, then recovery at the next startup.
#[test]
fn a_crash_at_any_install_step_recovers_to_exactly_old_or_new() {
    let cases = [
        (Step::Unpacked, false),
        (Step::SnapshotTaken, false),
        (Step::SwapJournaled, false),
        (Step::Swapped, true),
        (Step::RollbackMoved, true),
        (Step::ProbationJournaled, true),
    ];
    for (step, becomes_new) in cases {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        let downloaded = env.download("0.1.0");
        let hook = crash_at(step);
        let crashed = catch_unwind(AssertUnwindSafe(|| env.install(downloaded, Some(&hook))));
        assert!(crashed.is_err(), "{step:?}: the hook must have fired");
        let at_crash = tree_hash(&env.install);
        assert!(at_crash == env.old_hash || at_crash == env.new_hash, "{step:?}: half-swapped tree at the crash");

        let running = if becomes_new { "0.2.0" } else { "0.1.0" };
        match env.startup(running) {
            Startup::Probation(p) => {
                assert!(becomes_new, "{step:?}: probation although the swap had not happened");
                assert_eq!(tree_hash(&env.install), env.new_hash, "{step:?}");
                assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash, "{step:?}: rollback copy");
                p.confirm().unwrap();
            }
            Startup::Normal { .. } => {
                assert!(!becomes_new, "{step:?}: the swapped tree was not put on probation");
                assert_eq!(tree_hash(&env.install), env.old_hash, "{step:?}");
                assert!(!env.sibling("staging").exists(), "{step:?}: staging left behind");
                assert!(!env.app_data.join("updates/snapshot").exists(), "{step:?}: snapshot left behind");
            }
        }
        assert!(!env.sibling("staging").exists(), "{step:?}");
        assert_eq!(env.journal(), None, "{step:?}");
        // Recovery is idempotent: a second startup changes nothing.
        let before = tree_hash(&env.install);
        assert!(matches!(env.startup(running), Startup::Normal { .. }));
        assert_eq!(tree_hash(&env.install), before, "{step:?}");
    }
}

/// A tree assembled from the file store goes through the same journal as
/// an unpacked one: a crash at any step ends exactly old or exactly new,
/// and an update that completes leaves no fetched object behind.
#[test]
fn a_tree_from_the_file_store_installs_through_the_same_steps_and_recovery() {
    let env = Env::new();
    env.publish_store_tree("0.2.0", 1);
    let (downloaded, fetched) = env.fetch_tree("0.1.0");
    assert!(downloaded.is_tree());
    // hudson-shell.json, bin/hudson and beam.smp differ between the trees.
    assert_eq!((fetched.fetched, fetched.reused), (3, 0), "{fetched:?}");
    env.install(downloaded, None).unwrap();
    assert_eq!(tree_hash(&env.install), env.new_hash);
    assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash);
    assert!(!env.app_data.join("updates/objects").exists());
    assert!(!env.app_data.join("updates/0.2.0--tree.json").exists());

    for (step, becomes_new) in [(Step::Unpacked, false), (Step::SnapshotTaken, false), (Step::Swapped, true)] {
        let env = Env::new();
        env.publish_store_tree("0.2.0", 1);
        let (downloaded, _) = env.fetch_tree("0.1.0");
        let hook = crash_at(step);
        let crashed = catch_unwind(AssertUnwindSafe(|| env.install(downloaded, Some(&hook))));
        assert!(crashed.is_err(), "{step:?}");
        let running = if becomes_new { "0.2.0" } else { "0.1.0" };
        match env.startup(running) {
            Startup::Probation(p) => {
                assert!(becomes_new, "{step:?}");
                assert_eq!(tree_hash(&env.install), env.new_hash, "{step:?}");
                p.confirm().unwrap();
            }
            Startup::Normal { .. } => {
                assert!(!becomes_new, "{step:?}");
                assert_eq!(tree_hash(&env.install), env.old_hash, "{step:?}");
                assert!(!env.sibling("staging").exists(), "{step:?}: staging left behind");
                // The fetched objects stay for the retry, which succeeds.
                let (again, fetched) = env.fetch_tree("0.1.0");
                assert_eq!((fetched.fetched, fetched.resumed), (0, 3), "{step:?}: {fetched:?}");
                env.install(again, None).unwrap();
                assert_eq!(tree_hash(&env.install), env.new_hash, "{step:?}");
            }
        }
        assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash, "{step:?}");
    }
}

/// A file of the install changed after the fetch is not copied: the
/// assembly refuses it and the install stays as it was.
#[test]
fn a_local_file_changed_between_fetch_and_install_is_not_used() {
    let env = Env::new();
    // 0.2.0's beam.smp is 0.1.0's: a tree that reuses a local file.
    env.publish_store_tree("0.2.0", 1);
    let same_beam = fs::read(env.install.join("lib/erts/beam.smp")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    write_tree(&scratch.path().join("Hudson"), "0.2.0");
    fs::write(scratch.path().join("Hudson/lib/erts/beam.smp"), &same_beam).unwrap();
    let tree = common::store::store_dir(&env.server, &scratch.path().join("Hudson"), "0.2.0");
    let bound = common::store::serve_tree(&env.server, &tree.to_json());
    let mut art = artifact(&env.server, ARCHIVE, "0.2.0", tree_tar_gz("0.2.0", "Hudson"), &release_key().secret);
    art.entry.tree = Some(bound);
    publish(&env.server, &manifest(ManifestKind::Release, "0.2.0", 2, &[(PLATFORM, &art)]), &release_key().secret);
    let (downloaded, fetched) = env.fetch_tree("0.1.0");
    assert_eq!(fetched.reused, 1, "{fetched:?}");
    // The live file changes before the user restarts.
    let mut changed = same_beam.clone();
    changed[10] ^= 1;
    fs::write(env.install.join("lib/erts/beam.smp"), &changed).unwrap();
    let before = tree_hash(&env.install);
    let error = env.install(downloaded, None).unwrap_err().to_string();
    assert!(error.contains("could not be assembled from the file store"), "{error}");
    assert_eq!(tree_hash(&env.install), before);
    assert!(!env.sibling("staging").exists());
    assert_eq!(env.journal(), None);
}

/// A crash at each step of a rollback, then recovery at the next startup.
#[test]
fn a_crash_at_any_rollback_step_recovers_to_the_old_version_and_data() {
    for step in [Step::RollbackJournaled, Step::SwappedBack, Step::DataRestored, Step::BadTreeRemoved] {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        env.install(env.download("0.1.0"), None).unwrap();
        let Startup::Probation(p) = env.startup("0.2.0") else { panic!() };
        fs::write(env.data_dir.join(DB), "schema 2").unwrap();
        let hook = crash_at(step);
        let crashed = catch_unwind(AssertUnwindSafe(|| {
            p.fail_with_hook("healthz timed out", &mut || Ok(()), &Recorder::default(), &hook)
        }));
        assert!(crashed.is_err(), "{step:?}");
        let at_crash = tree_hash(&env.install);
        assert!(at_crash == env.old_hash || at_crash == env.new_hash, "{step:?}: half-swapped tree");

        let Startup::Normal { notice: Some(notice), .. } = env.startup("0.1.0") else {
            panic!("{step:?}: recovery must finish the rollback")
        };
        assert_eq!(notice.reason, "healthz timed out");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{step:?}");
        assert_eq!(env.data(), "schema 1", "{step:?}");
        assert!(!env.sibling("rollback").exists(), "{step:?}: bad tree left behind");
        let state = Store::new(&env.app_data).load().unwrap().state;
        assert_eq!(state.journal, None);
        assert!(state.is_bad(&v("0.2.0")).is_some(), "{step:?}");
    }
}

#[test]
fn a_crash_mid_unpack_or_a_recovery_crash_leaves_the_old_tree() {
    let env = Env::new();
    let staging = env.sibling("staging");
    fs::create_dir_all(staging.join("lib")).unwrap();
    fs::write(staging.join("lib/half-writ"), "partial").unwrap();
    let store = Store::new(&env.app_data);
    let mut state = store.load().unwrap().state;
    state.journal = Some(Journal::Unpacking {
        version: v("0.2.0"),
        install: env.install.clone(),
        staging: staging.clone(),
        staged: None,
    });
    store.save(&state).unwrap();
    assert!(matches!(env.startup("0.1.0"), Startup::Normal { .. }));
    assert!(!staging.exists());
    assert_eq!(tree_hash(&env.install), env.old_hash);

    // A crash inside recovery's own rollback is finished by the next one.
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    env.install(env.download("0.1.0"), None).unwrap();
    for _ in 0..3 {
        let Startup::Probation(_) = env.startup("0.2.0") else { panic!() };
    }
    let hook = crash_at(Step::SwappedBack);
    let crashed =
        catch_unwind(AssertUnwindSafe(|| startup_with_hook(&env.layout(), &v("0.2.0"), &Recorder::default(), &hook)));
    assert!(crashed.is_err());
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert!(matches!(env.startup("0.1.0"), Startup::Normal { notice: Some(_), .. }));
    assert_eq!(tree_hash(&env.install), env.old_hash);
}

/// Refused manifests and artifacts never change a byte of the install.
#[test]
fn refused_manifests_and_artifacts_never_touch_the_install() {
    let env = Env::new();
    let key = &release_key().secret;
    let good = tree_tar_gz("0.2.0", "Hudson");
    let art = artifact(&env.server, ARCHIVE, "0.2.0", good.clone(), key);
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    publish(&env.server, &manifest(ManifestKind::Release, "0.2.0", 10, &[(PLATFORM, &art)]), key);
    let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!() };

    // Manifests: replayed, expired, tampered.
    publish(&env.server, &manifest(ManifestKind::Release, "0.2.0", 9, &[(PLATFORM, &art)]), key);
    assert!(matches!(u.check().unwrap(), CheckOutcome::Refused(_)));
    let mut expired = manifest(ManifestKind::Release, "0.2.0", 11, &[(PLATFORM, &art)]);
    expired.expires_at = now() - time::Duration::hours(1);
    expired.issued_at = now() - time::Duration::days(3);
    publish(&env.server, &expired, key);
    assert!(matches!(u.check().unwrap(), CheckOutcome::Refused(_)));
    let signed = manifest(ManifestKind::Release, "0.2.0", 12, &[(PLATFORM, &art)]).sign(key).unwrap();
    let mut json = signed.json.clone();
    json[40] ^= 0x04;
    env.server.put("stable/manifest.json", json);
    env.server.put("stable/manifest.json.minisig", signed.signature_text());
    assert!(matches!(u.check().unwrap(), CheckOutcome::Refused(_)));

    // Artifacts: a flipped byte, cut short.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x01;
    env.server.put(&format!("files/{ARCHIVE}"), flipped);
    assert!(matches!(u.download(&update, &mut |_| {}), Err(UpdateError::DownloadRefused { .. })));
    env.server.put(&format!("files/{ARCHIVE}"), good[..good.len() - 1].to_vec());
    assert!(matches!(u.download(&update, &mut |_| {}), Err(UpdateError::WrongSize { .. })));

    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert_eq!(env.journal(), None);
    assert!(!env.sibling("staging").exists() && !env.sibling("rollback").exists());
}

#[test]
fn hostile_archives_are_refused_before_the_install_is_touched() {
    use tar::EntryType::{Fifo, Regular, Symlink};
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dot-dot", hostile(&[("Hudson/../escaped", Regular, "", b"x")])),
        ("absolute", hostile(&[("/tmp/hudson-escaped", Regular, "", b"x")])),
        ("absolute symlink", hostile(&[("Hudson/etc", Symlink, "/etc", b"")])),
        ("escaping symlink", hostile(&[("Hudson/up", Symlink, "../..", b"")])),
        ("through a symlink", hostile(&[("Hudson/lib", Symlink, "bin", b""), ("Hudson/lib/x", Regular, "", b"x")])),
        ("fifo", hostile(&[("Hudson/pipe", Fifo, "", b"")])),
        ("two top folders", hostile(&[("Other/x", Regular, "", b"x")])),
    ];
    for (what, archive) in cases {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, archive);
        let error = env.install(env.download("0.1.0"), None).unwrap_err();
        assert!(matches!(error, UpdateError::Unpack { .. }), "{what}: {error}");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{what}");
        assert!(!env.sibling("staging").exists(), "{what}: staging left behind");
        assert!(!env.install.parent().unwrap().join("escaped").exists(), "{what}");
        assert_eq!(env.journal(), None, "{what}");
    }
    assert!(!Path::new("/tmp/hudson-escaped").exists());
}

#[test]
fn the_size_cap_counts_bytes_as_written_and_the_staged_check_gates_the_swap() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    let downloaded = env.download("0.1.0");
    let check = |_: &Path| -> Result<(), String> { Ok(()) };
    let mut stopped = false;
    let mut stop = || {
        stopped = true;
        Ok(())
    };
    let ctx = InstallContext {
        check_staged: &check,
        stop_backend: &mut stop,
        runner: &Recorder::default(),
        limits: UnpackLimits { max_bytes: 40_000, max_entries: 100 },
        crash_hook: None,
    };
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    let error = u.install(downloaded.clone(), &env.layout(), ctx).unwrap_err();
    assert!(error.to_string().contains("more than 40000 bytes"), "{error}");
    assert!(!stopped, "the backend is stopped only once the update is staged and checked");
    assert_eq!(tree_hash(&env.install), env.old_hash);

    // A staged tree of the wrong version is refused.
    env.publish_tree("0.3.0", 2, tree_tar_gz("0.2.0", "Hudson"));
    let u = updater(&env.server, &env.app_data, "0.1.0", PLATFORM);
    let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!() };
    let mislabelled = u.download(&update, &mut |_| {}).unwrap();
    let error = env.install(mislabelled, None).unwrap_err();
    assert!(matches!(error, UpdateError::StagedCheck { .. }), "{error}");
    assert_eq!(tree_hash(&env.install), env.old_hash);
    assert!(!env.sibling("staging").exists());
}

/// The steps an install went through, recorded by its crash hook.
fn recorded_install(env: &Env, downloaded: hudson_updater::Downloaded) -> Vec<Step> {
    let steps = std::cell::RefCell::new(Vec::new());
    let record = |step: Step| steps.borrow_mut().push(step);
    env.install(downloaded, Some(&record)).unwrap();
    steps.into_inner()
}

/// "Restart to update" after the session staged the update is only the
/// swap: the tree is unpacked and checked while the old version runs (the
/// install untouched, the backend never stopped), recorded in the journal,
/// and the install takes it as it is.
#[test]
fn a_prepared_update_installs_by_the_swap_alone() {
    for from_store in [false, true] {
        let env = Env::new();
        if from_store {
            env.publish_store_tree("0.2.0", 1);
        } else {
            env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        }
        let downloaded = if from_store { env.fetch_tree("0.1.0").0 } else { env.download("0.1.0") };
        env.prepare(&downloaded, None).unwrap();
        assert_eq!(tree_hash(&env.install), env.old_hash, "store {from_store}: preparing touched the install");
        assert_eq!(tree_hash(&env.sibling("staging")), env.new_hash, "store {from_store}");
        let Some(Journal::Unpacking { staged: Some(staged), .. }) = env.journal() else {
            panic!("store {from_store}: the staged tree is not journaled: {:?}", env.journal())
        };
        assert_eq!(staged.sha256, downloaded.update().offer.artifact.sha256);

        let steps = recorded_install(&env, downloaded);
        assert!(!steps.contains(&Step::Unpacked), "store {from_store}: unpacked again: {steps:?}");
        assert!(steps.contains(&Step::Swapped), "store {from_store}: {steps:?}");
        assert_eq!(tree_hash(&env.install), env.new_hash, "store {from_store}");
        assert_eq!(tree_hash(&env.sibling("rollback")), env.old_hash, "store {from_store}");
        assert!(matches!(env.journal(), Some(Journal::Probation { .. })), "store {from_store}");
        assert!(!env.app_data.join("updates/objects").read_dir().is_ok_and(|mut d| d.next().is_some()));
    }
}

/// Anything that changed the staged tree after it was checked (its mode, a
/// file grown, replaced, made non-executable, added or removed, a link pointed
/// elsewhere, the folder itself replaced) is noticed at the restart: the
/// staged tree is thrown away and the update unpacked again, so what is
/// swapped in is exactly the release.
#[test]
fn a_staged_tree_changed_after_its_check_is_unpacked_again() {
    use std::os::unix::fs::PermissionsExt as _;
    type Change = fn(&Path);
    let changes: [(&str, Change); 8] = [
        ("the folder opened to everyone", |s| fs::set_permissions(s, fs::Permissions::from_mode(0o777)).unwrap()),
        ("a file grew", |s| {
            let mut f = fs::OpenOptions::new().append(true).open(s.join("lib/erts/beam.smp")).unwrap();
            std::io::Write::write_all(&mut f, b"!").unwrap();
        }),
        ("a file replaced", |s| {
            fs::write(s.join("bin/.new"), "#!/bin/sh\necho 6.6.6\n").unwrap();
            fs::rename(s.join("bin/.new"), s.join("bin/hudson")).unwrap();
        }),
        ("an executable bit dropped", |s| {
            fs::set_permissions(s.join("bin/hudson"), fs::Permissions::from_mode(0o644)).unwrap()
        }),
        ("a file added", |s| fs::write(s.join("lib/planted"), "planted").unwrap()),
        ("a file removed", |s| fs::remove_file(s.join("lib/erts/beam.smp")).unwrap()),
        ("a link pointed elsewhere", |s| {
            fs::remove_file(s.join("erts")).unwrap();
            std::os::unix::fs::symlink("bin", s.join("erts")).unwrap();
        }),
        ("the folder replaced", |s| {
            let aside = s.with_extension("aside");
            fs::rename(s, &aside).unwrap();
            let copied = std::process::Command::new("cp").arg("-a").arg(&aside).arg(s).status().unwrap();
            assert!(copied.success());
            fs::remove_dir_all(&aside).unwrap();
        }),
    ];
    for (what, change) in changes {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        let downloaded = env.download("0.1.0");
        env.prepare(&downloaded, None).unwrap();
        change(&env.sibling("staging"));
        let steps = recorded_install(&env, downloaded);
        assert!(steps.contains(&Step::Unpacked), "{what}: the changed tree was swapped in as it was: {steps:?}");
        assert_eq!(tree_hash(&env.install), env.new_hash, "{what}");
    }
}

/// The app ending between the preparation and the restart (a quit, a
/// crash, a power cut) leaves the old version as it was: recovery removes
/// the staged tree, and the next session stages the update again.
#[test]
fn recovery_removes_a_staged_tree_the_app_did_not_restart_into() {
    for crash in [Some(Step::Unpacked), Some(Step::Prepared), None] {
        let env = Env::new();
        env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
        let downloaded = env.download("0.1.0");
        match crash {
            Some(step) => {
                let hook = crash_at(step);
                let crashed = catch_unwind(AssertUnwindSafe(|| env.prepare(&downloaded, Some(&hook))));
                assert!(crashed.is_err(), "{step:?}: the hook must have fired");
            }
            None => env.prepare(&downloaded, None).unwrap(),
        }
        assert!(matches!(env.journal(), Some(Journal::Unpacking { .. })), "{crash:?}");
        assert!(matches!(env.startup("0.1.0"), Startup::Normal { .. }), "{crash:?}");
        assert_eq!(env.journal(), None, "{crash:?}");
        assert!(!env.sibling("staging").exists(), "{crash:?}");
        assert_eq!(tree_hash(&env.install), env.old_hash, "{crash:?}");
        assert_eq!(env.data(), "schema 1", "{crash:?}");

        env.prepare(&downloaded, None).unwrap();
        env.install(downloaded, None).unwrap();
        assert_eq!(tree_hash(&env.install), env.new_hash, "{crash:?}");
    }
}

/// A staged tree is this update's only: another update's staged tree is
/// removed before its own is unpacked; a staged check that fails leaves
/// nothing; and nothing is staged while another step's journal is open.
#[test]
fn a_staged_tree_is_for_one_update_and_one_step_at_a_time() {
    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.2.0", "Hudson"));
    let first = env.download("0.1.0");
    env.prepare(&first, None).unwrap();
    env.publish_tree("0.3.0", 2, tree_tar_gz("0.3.0", "Hudson"));
    let second = env.download("0.1.0");
    let error = env.prepare(&second, None).unwrap_err();
    assert!(matches!(error, UpdateError::Busy { step: "unpacking", .. }), "{error}");
    let steps = recorded_install(&env, second);
    assert!(steps.contains(&Step::Unpacked), "0.2.0's staged tree was swapped in for 0.3.0: {steps:?}");
    let text = fs::read_to_string(env.install.join("hudson-shell.json")).unwrap();
    assert!(text.contains("0.3.0"), "{text}");
    let error = env.prepare(&first, None).unwrap_err();
    assert!(matches!(error, UpdateError::Busy { step: "probation", .. }), "{error}");

    let env = Env::new();
    env.publish_tree("0.2.0", 1, tree_tar_gz("0.3.0", "Hudson"));
    let mislabelled = env.download("0.1.0");
    let error = env.prepare(&mislabelled, None).unwrap_err();
    assert!(matches!(error, UpdateError::StagedCheck { .. }), "{error}");
    assert_eq!(env.journal(), None);
    assert!(!env.sibling("staging").exists());
    assert_eq!(tree_hash(&env.install), env.old_hash);
}
