//! "Check for updates" against a real loopback server: every decision and
//! every refusal reason, in the words the window shows.

mod common;

use common::*;
use hudson_updater::state::Store;
use hudson_updater::{CheckOutcome, UpdateError};
use signing::manifest::ManifestKind;
use signing::policy::RefusalKind;

fn refused(outcome: CheckOutcome) -> hudson_updater::Refusal {
    match outcome {
        CheckOutcome::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
    deb: Artifact,
}

fn fixture() -> Fixture {
    let server = Server::start();
    let deb = artifact(&server, "hudson_0.2.0_amd64.deb", "0.2.0", noise(3000, 1), &release_key().secret);
    Fixture { server, dir: tempfile::tempdir().unwrap(), deb }
}

#[test]
fn a_newer_release_is_offered_with_notes_and_size_and_becomes_last_seen() {
    let f = fixture();
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.2.0", 5, &[("linux-x86_64-deb", &f.deb)]),
        &release_key().secret,
    );
    let updater = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let CheckOutcome::Offered(update) = updater.check().unwrap() else { panic!("expected an offer") };
    assert_eq!(update.version, v("0.2.0"));
    assert_eq!(update.notes.as_deref(), Some("Notes for 0.2.0."));
    assert_eq!(update.size, 3000);
    assert_eq!(update.sequence, 5);
    let state = updater.state().unwrap().state;
    assert_eq!(state.last_seen.unwrap().sequence, 5);
    assert_eq!(state.channel.as_deref(), Some("stable"));
    assert_eq!(f.server.requests("stable/manifest.json").len(), 1);
    assert_eq!(f.server.requests("stable/manifest.json.minisig").len(), 1);

    // Same version installed: up to date, and the state still advances.
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.2.0", 6, &[("linux-x86_64-deb", &f.deb)]),
        &release_key().secret,
    );
    let same = updater_at(&f, "0.2.0");
    assert_eq!(same.check().unwrap(), CheckOutcome::UpToDate { version: v("0.2.0") });
    assert_eq!(same.state().unwrap().state.last_seen.unwrap().sequence, 6);
}

fn updater_at(f: &Fixture, installed: &str) -> hudson_updater::Updater {
    updater(&f.server, f.dir.path(), installed, "linux-x86_64-deb")
}

#[test]
fn a_replayed_older_manifest_is_refused_in_plain_words() {
    let f = fixture();
    let key = &release_key().secret;
    publish(&f.server, &manifest(ManifestKind::Release, "0.2.0", 7, &[("linux-x86_64-deb", &f.deb)]), key);
    let updater = updater_at(&f, "0.1.0");
    assert!(matches!(updater.check().unwrap(), CheckOutcome::Offered(_)));
    publish(&f.server, &manifest(ManifestKind::Release, "0.2.0", 4, &[("linux-x86_64-deb", &f.deb)]), key);
    let refusal = refused(updater.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::Replay);
    assert_eq!(refusal.reason, "the server offered an older channel state (sequence 4, last seen 7): ignored");
    assert_eq!(updater.state().unwrap().state.last_seen.unwrap().sequence, 7, "a refusal must not move last-seen");
}

/// Each channel keeps its own anti-replay memory: a beta build installed
/// over a stable one, then a stable build again, still refuses stable's
/// older manifest, and beta's lower sequences never met stable's counter.
#[test]
fn a_switch_to_another_channel_and_back_still_refuses_the_first_channels_replay() {
    let f = fixture();
    let key = &release_key().secret;
    let stable_at = |sequence| manifest(ManifestKind::Release, "0.2.0", sequence, &[("linux-x86_64-deb", &f.deb)]);
    publish(&f.server, &stable_at(7), key);
    assert!(matches!(updater_at(&f, "0.1.0").check().unwrap(), CheckOutcome::Offered(_)));

    let mut on_beta = manifest(ManifestKind::Release, "0.3.0", 2, &[("linux-x86_64-deb", &f.deb)]);
    on_beta.channel = "beta".to_owned();
    let signed = on_beta.sign(key).unwrap();
    f.server.put("beta/manifest.json", signed.json.clone());
    f.server.put("beta/manifest.json.minisig", signed.signature_text().into_bytes());
    let beta = updater_on("beta", &f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    let CheckOutcome::Offered(update) = beta.check().unwrap() else { panic!("beta counts its own sequences") };
    assert_eq!((update.version, update.sequence), (v("0.3.0"), 2));

    // Back on stable, a server replays an older (still unexpired) stable state.
    publish(&f.server, &stable_at(4), key);
    let refusal = refused(updater_at(&f, "0.1.0").check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::Replay);
    assert_eq!(refusal.reason, "the server offered an older channel state (sequence 4, last seen 7): ignored");
    let state = updater_at(&f, "0.1.0").state().unwrap().state;
    let sequences: Vec<(&str, u64)> =
        state.channels.iter().map(|(name, m)| (name.as_str(), m.last_seen.as_ref().unwrap().sequence)).collect();
    assert_eq!(sequences, [("beta", 2), ("stable", 7)]);
}

/// Release notes come from a signed manifest but are shown as they are:
/// line breaks and tabs stay, every other control character and
/// bidirectional override (a terminal escape, a NUL, text that reads
/// backwards) is replaced.
#[test]
fn release_notes_reach_the_window_printable_with_their_line_breaks() {
    let f = fixture();
    let mut offered = manifest(ManifestKind::Release, "0.2.0", 5, &[("linux-x86_64-deb", &f.deb)]);
    offered.notes = Some("Fixes:\r\n\t- sync\u{1b}[2J\u{0}\n- \u{202E}exe.txt".to_owned());
    publish(&f.server, &offered, &release_key().secret);
    let CheckOutcome::Offered(update) = updater_at(&f, "0.1.0").check().unwrap() else { panic!("an offer") };
    assert_eq!(update.notes.as_deref(), Some("Fixes:\n\t- sync\u{FFFD}[2J\u{FFFD}\n- \u{FFFD}exe.txt"));
}

#[test]
fn expired_tampered_unknown_key_and_wrong_platform_manifests_are_refused() {
    let f = fixture();
    let key = &release_key().secret;
    let updater = updater_at(&f, "0.1.0");

    let mut expired = manifest(ManifestKind::Release, "0.2.0", 3, &[("linux-x86_64-deb", &f.deb)]);
    expired.issued_at = now() - time::Duration::days(40);
    expired.expires_at = now() - time::Duration::days(10);
    publish(&f.server, &expired, key);
    let refusal = refused(updater.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::Expired);
    assert!(refusal.reason.contains("expired channel state"), "{}", refusal.reason);

    let good = manifest(ManifestKind::Release, "0.2.0", 3, &[("linux-x86_64-deb", &f.deb)]);
    let signed = good.sign(key).unwrap();
    let mut flipped = signed.json.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x01;
    f.server.put("stable/manifest.json", flipped);
    f.server.put("stable/manifest.json.minisig", signed.signature_text());
    assert_eq!(refused(updater.check().unwrap()).kind, RefusalKind::BadSignature);

    publish(&f.server, &good, &stranger_key().secret);
    let refusal = refused(updater.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::UnknownKey);
    assert!(refusal.reason.contains("does not trust"), "{}", refusal.reason);

    let rpm_only = manifest(ManifestKind::Release, "0.2.0", 3, &[("linux-x86_64-rpm", &f.deb)]);
    publish(&f.server, &rpm_only, key);
    let refusal = refused(updater.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::PlatformMissing);
    assert!(refusal.reason.contains("linux-x86_64-deb"), "{}", refusal.reason);

    assert_eq!(updater.state().unwrap().state.last_seen, None, "nothing refused may become last-seen");
}

#[test]
fn an_oversized_manifest_is_refused_by_the_policy_without_reading_it_all() {
    let f = fixture();
    f.server.put("stable/manifest.json", vec![b' '; 8 << 20]);
    f.server.put("stable/manifest.json.minisig", b"x".to_vec());
    let refusal = refused(updater_at(&f, "0.1.0").check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::TooLarge);
    // The size said is the server's own, not how far the reader went.
    assert!(refusal.reason.contains(&format!("{} bytes", 8 << 20)), "{}", refusal.reason);
    f.server.state.lock().unwrap().no_length = true;
    let refusal = refused(updater_at(&f, "0.1.0").check().unwrap());
    assert!(refusal.reason.contains("more than 1048576 bytes"), "{}", refusal.reason);
}

#[test]
fn halted_channel_and_zero_percent_rollout_offer_nothing() {
    let f = fixture();
    let key = &release_key().secret;
    let updater = updater_at(&f, "0.1.0");
    publish(&f.server, &manifest(ManifestKind::Halt, "0.1.0", 2, &[]), key);
    assert_eq!(updater.check().unwrap(), CheckOutcome::Halted);

    let mut zero = manifest(ManifestKind::Release, "0.2.0", 3, &[("linux-x86_64-deb", &f.deb)]);
    zero.rollout.percent = 0;
    publish(&f.server, &zero, key);
    assert_eq!(updater.check().unwrap(), CheckOutcome::NotInRollout { version: v("0.2.0"), percent: 0 });
    assert_eq!(updater.state().unwrap().state.last_seen.unwrap().sequence, 3, "stored whatever the decision");
}

#[test]
fn a_signed_yank_offers_a_downgrade() {
    let f = fixture();
    let key = &release_key().secret;
    let old = artifact(&f.server, "hudson_0.1.0_amd64.deb", "0.1.0", noise(2000, 2), key);
    let mut yank = manifest(ManifestKind::Yank, "0.1.0", 9, &[("linux-x86_64-deb", &old)]);
    yank.yanked = vec![v("0.2.0")];
    publish(&f.server, &yank, key);
    let CheckOutcome::Yank(update) = updater_at(&f, "0.2.0").check().unwrap() else { panic!("expected a yank") };
    assert_eq!(update.version, v("0.1.0"));
    // An install that was not yanked is not sent back.
    let other = tempfile::tempdir().unwrap();
    let refusal = refused(updater(&f.server, other.path(), "0.3.0", "linux-x86_64-deb").check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::VersionNotNewer);
}

#[test]
fn a_bad_version_is_not_offered_again_but_a_newer_one_is() {
    let f = fixture();
    let key = &release_key().secret;
    let store = Store::new(f.dir.path());
    let mut state = store.load().unwrap().state;
    state.bad_versions.push(hudson_updater::BadVersion { version: v("0.2.0"), sequence: 5, reason: "crashed".into() });
    store.save(&state).unwrap();
    let updater = updater_at(&f, "0.1.0");
    publish(&f.server, &manifest(ManifestKind::Release, "0.2.0", 6, &[("linux-x86_64-deb", &f.deb)]), key);
    assert_eq!(updater.check().unwrap(), CheckOutcome::BadVersion { version: v("0.2.0"), reason: "crashed".into() });
    let next = artifact(&f.server, "hudson_0.3.0_amd64.deb", "0.3.0", noise(2000, 3), key);
    publish(&f.server, &manifest(ManifestKind::Release, "0.3.0", 7, &[("linux-x86_64-deb", &next)]), key);
    let CheckOutcome::Offered(update) = updater.check().unwrap() else { panic!("0.3.0 must be offered") };
    assert_eq!(update.version, v("0.3.0"));
}

#[test]
fn network_failures_are_errors_not_decisions() {
    let f = fixture();
    let error = updater_at(&f, "0.1.0").check().unwrap_err();
    assert!(matches!(error, UpdateError::Fetch { .. }), "{error}");
    assert!(error.to_string().contains("/stable/manifest.json") && error.to_string().contains("404"), "{error}");
}

#[test]
fn keys_come_only_from_embedded_text() {
    assert!(matches!(hudson_updater::TrustedKeys::embedded(&[]), Err(UpdateError::NoTrustedKey)));
    assert!(hudson_updater::TrustedKeys::embedded(&["not a key"]).is_err());
    assert_eq!(trusted().len(), 1);
}

/// A chain in which `from` hands channel `stable` to `to` from `sequence` on.
fn key_chain(from: &Key, to: &Key, sequence: u64) -> Vec<u8> {
    use signing::keys::PublicKey;
    use signing::rotation::{KeyChain, KeyRotation};
    let (from_public, to_public) = (
        PublicKey::from_minisign_text(from.public_text).unwrap(),
        PublicKey::from_minisign_text(to.public_text).unwrap(),
    );
    let mut chain = KeyChain::new(CHANNEL);
    chain.links.push(KeyRotation::new(CHANNEL, &from_public, &to_public, sequence, now()).sign(&from.secret).unwrap());
    chain.to_json()
}

#[test]
fn an_app_follows_its_channel_to_a_new_key_and_refuses_the_retired_one() {
    let f = fixture();
    // The channel rotated from the app's key to another at sequence 4; the
    // new release and its artifact are signed by the new key.
    let new_key = stranger_key();
    let deb = artifact(&f.server, "hudson_0.3.0_amd64.deb", "0.3.0", noise(2000, 7), &new_key.secret);
    f.server.put("stable/keys.json", key_chain(release_key(), new_key, 4));
    publish(&f.server, &manifest(ManifestKind::Release, "0.3.0", 4, &[("linux-x86_64-deb", &deb)]), &new_key.secret);
    let app = updater_at(&f, "0.1.0");
    let CheckOutcome::Offered(update) = app.check().unwrap() else { panic!("expected an offer") };
    assert_eq!(update.version, v("0.3.0"));
    // The artifact signed by the new key verifies with the keys the chain gave.
    app.download(&update, &mut |_| {}).unwrap();

    // The retired key signing a newer manifest is refused, though the app embeds it.
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.3.0", 5, &[("linux-x86_64-deb", &deb)]),
        &release_key().secret,
    );
    let refusal = refused(app.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::RetiredKey);
    assert!(refusal.reason.contains("retired"), "{}", refusal.reason);

    // An altered chain (the new key's start moved earlier) hands it nothing.
    let mut chain = signing::rotation::KeyChain::from_json(&key_chain(release_key(), new_key, 4)).unwrap();
    assert!(chain.links[0].statement.contains("\"from_sequence\": 4"));
    chain.links[0].statement = chain.links[0].statement.replace("\"from_sequence\": 4", "\"from_sequence\": 3");
    f.server.put("stable/keys.json", chain.to_json());
    publish(&f.server, &manifest(ManifestKind::Release, "0.3.0", 6, &[("linux-x86_64-deb", &deb)]), &new_key.secret);
    let refusal = refused(app.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::KeyChain, "{}", refusal.detail);
    assert!(refusal.detail.contains("does not extend the chain of 1 key change(s)"), "{}", refusal.detail);
    // An app that never saw the chain checks the signature instead.
    let fresh = tempfile::tempdir().unwrap();
    let newcomer = updater(&f.server, fresh.path(), "0.1.0", "linux-x86_64-deb");
    let refusal = refused(newcomer.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::KeyChain, "{}", refusal.detail);
    assert!(refusal.detail.contains("does not verify"), "{}", refusal.detail);

    // The chain taken away, to bring the embedded old key back: refused by
    // the app that saw it, even for a manifest the old key signs.
    f.server.put("stable/keys.json", signing::rotation::KeyChain::new(CHANNEL).to_json());
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.3.0", 7, &[("linux-x86_64-deb", &deb)]),
        &release_key().secret,
    );
    let refusal = refused(app.check().unwrap());
    assert_eq!(refusal.kind, RefusalKind::KeyChain, "{}", refusal.detail);
    assert!(refusal.detail.contains("now there is none"), "{}", refusal.detail);
}

#[test]
fn the_server_clock_is_read_from_the_date_header() {
    let f = fixture();
    publish(
        &f.server,
        &manifest(ManifestKind::Release, "0.2.0", 5, &[("linux-x86_64-deb", &f.deb)]),
        &release_key().secret,
    );
    let updater = updater(&f.server, f.dir.path(), "0.1.0", "linux-x86_64-deb");
    // No Date header yet: not measured.
    updater.check().unwrap();
    assert_eq!(updater.server_clock(), None);
    // The server says it is an hour earlier than this computer thinks.
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let format = time::format_description::parse_borrowed::<1>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .unwrap();
    f.server.state.lock().unwrap().date = Some(hour_ago.format(&format).unwrap());
    updater.check().unwrap();
    let clock = updater.server_clock().expect("measured from the Date header");
    assert!((-3605..=-3595).contains(&clock.offset_secs), "{clock:?}");
    assert!(clock.describe().ends_with("min ahead of the update server's"), "{}", clock.describe());
}
