//! The signed channel manifest and the client policy: the `minisign` CLI
//! verifies what is published, and the policy refuses each attack with its
//! own error.

mod common;

use std::collections::BTreeSet;

use common::*;
use signing::keys::SecretKey;
use signing::manifest::{ChannelManifest, ManifestKind, SignedManifest};
use signing::policy::{
    self, Decision, DownloadRefused, ManifestRefused, OfferReason, Policy, RefusalKind, SeenManifest,
};
use signing::signature::{self, untrusted_comment_for};

fn client(installed: &str) -> Policy {
    Policy::new(trusted(), "stable", platform("linux-x86_64-deb"), version(installed), "install-0001", NOW)
}

fn sign(manifest: &ChannelManifest) -> SignedManifest {
    manifest.sign(&release_key().secret).unwrap()
}

fn check(policy: &Policy, signed: &SignedManifest) -> Result<policy::UpdateCheck, ManifestRefused> {
    policy::check_manifest(policy, &signed.json, signed.signature_text().as_bytes())
}

/// Signs arbitrary bytes with a chosen trusted comment, as a forger with the
/// key (or a buggy publisher) could.
fn sign_raw(bytes: &[u8], trusted_comment: &str, key: &SecretKey) -> String {
    signature::sign_reader(key, bytes, trusted_comment, &untrusted_comment_for(key.key_id())).unwrap().to_text()
}

fn refusal(result: Result<policy::UpdateCheck, ManifestRefused>) -> RefusalKind {
    match result {
        Ok(check) => panic!("expected a refusal, got {:?}", check.decision),
        Err(error) => error.kind(),
    }
}

// The minisign CLI is a Unix program here: Unix-only by name (the
// Windows stage reports it), the Tauri verifier checks the same on Windows.
#[cfg(unix)]
#[test]
fn the_minisign_cli_verifies_the_published_manifest() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    let dir = tempfile::tempdir().unwrap();
    let (json, sig, public) =
        (dir.path().join("manifest.json"), dir.path().join("manifest.json.minisig"), dir.path().join("key.pub"));
    std::fs::write(&json, &signed.json).unwrap();
    std::fs::write(&sig, signed.signature_text()).unwrap();
    std::fs::write(&public, release_key().secret.public_key().to_minisign_text()).unwrap();
    let output = minisign_verify(&json, &sig, &public).unwrap();
    assert!(
        output.contains("hudson-channel-manifest/1 channel:stable sequence:7 kind:release version:1.2.3"),
        "{output}"
    );

    // And the CLI refuses a changed manifest.
    let mut changed = signed.json.clone();
    let at = changed.len() / 2;
    changed[at] ^= 1;
    std::fs::write(&json, &changed).unwrap();
    assert!(minisign_verify(&json, &sig, &public).is_err());

    // The Tauri verifier accepts it too (it is a plain prehashed signature).
    let key = minisign_verify::PublicKey::decode(&release_key().secret.public_key().to_minisign_text()).unwrap();
    let signature = minisign_verify::Signature::decode(&signed.signature_text()).unwrap();
    key.verify(&signed.json, &signature, true).unwrap();
}

#[test]
fn manifest_bytes_and_signature_are_deterministic_and_documented() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let (first, second) = (sign(&manifest), sign(&manifest));
    assert_eq!(first, second);
    let text = String::from_utf8(first.json.clone()).unwrap();
    assert!(text.starts_with("{\n  \"schema\": \"hudson-channel-manifest/1\",\n  \"channel\": \"stable\",\n  \"sequence\": 7,\n  \"kind\": \"release\",\n  \"version\": \"1.2.3\",\n  \"issued_at\": \"2026-05-01T12:00:00Z\",\n  \"expires_at\": \"2026-05-31T12:00:00Z\",\n  \"rollout\": {\n"), "{text}");
    assert!(text.ends_with("}\n") && !text.contains("yanked") && !text.contains("minimum_version"));
    assert!(text.find("linux-x86_64-deb").unwrap() < text.find("linux-x86_64-rpm").unwrap());
    assert_eq!(ChannelManifest::from_json(&first.json).unwrap(), manifest);
    assert_eq!(ChannelManifest::from_json(&first.json).unwrap().to_json(), first.json);
    let signature = first.signature_text();
    assert!(signature.starts_with(&format!(
        "untrusted comment: signature from Hudson signing key {}\n",
        release_key().secret.key_id()
    )));
}

#[test]
fn a_valid_manifest_offers_the_update_and_the_download_verifies() {
    let (manifest, artifacts) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    let check = check(&client("1.2.2"), &signed).unwrap();
    let Decision::Install(offer) = &check.decision else { panic!("expected an offer, got {:?}", check.decision) };
    assert_eq!(offer.version, version("1.2.3"));
    assert_eq!(offer.reason, OfferReason::Release);
    assert_eq!(offer.artifact, manifest.platforms[&platform("linux-x86_64-deb")]);
    assert_eq!(check.seen.sequence, 7);
    policy::verify_download(&artifacts["linux-x86_64-deb"].bytes[..], offer, &trusted()).unwrap();
}

/// Every single-byte change (xor 0x01) of the manifest or of its signature
/// file is refused, and only with the errors expected for that file.
#[test]
fn every_single_byte_flip_of_manifest_or_signature_is_refused() {
    let (mut manifest, _) = release_manifest("1.2.3", 7);
    manifest.platforms.retain(|key, _| key.to_string() == "linux-x86_64-deb");
    manifest.notes = None;
    let signed = sign(&manifest);
    let policy = client("1.2.2");
    assert!(check(&policy, &signed).is_ok());
    let signature = signed.signature_text().into_bytes();

    let mut seen_for_manifest = BTreeSet::new();
    for at in 0..signed.json.len() {
        let mut json = signed.json.clone();
        json[at] ^= 0x01;
        let result = policy::check_manifest(&policy, &json, &signature);
        seen_for_manifest.insert(refusal(result));
    }
    assert_eq!(seen_for_manifest, BTreeSet::from([RefusalKind::BadSignature]));

    let mut seen_for_signature = BTreeSet::new();
    for at in 0..signature.len() {
        let mut flipped = signature.clone();
        flipped[at] ^= 0x01;
        let result = policy::check_manifest(&policy, &signed.json, &flipped);
        seen_for_signature.insert(refusal(result));
    }
    assert_eq!(
        seen_for_signature,
        BTreeSet::from([RefusalKind::MalformedSignature, RefusalKind::UnknownKey, RefusalKind::BadSignature])
    );
    eprintln!("flipped {} manifest bytes and {} signature bytes", signed.json.len(), signature.len());
}

#[test]
fn a_manifest_over_the_size_cap_is_refused_before_parsing() {
    let (mut manifest, _) = release_manifest("1.2.3", 7);
    // Larger than a valid manifest can be: signed as a forger would.
    manifest.notes = Some("x".repeat(policy::DEFAULT_MAX_MANIFEST_BYTES));
    let json = manifest.to_json();
    let signature = sign_raw(&json, &manifest.trusted_comment(), &release_key().secret);
    match policy::check_manifest(&client("1.2.2"), &json, signature.as_bytes()) {
        Err(ManifestRefused::TooLarge { size, limit }) => {
            assert_eq!(limit, 1 << 20);
            assert!(size > limit);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Checked before the signature: garbage of that size gets the same answer.
    let garbage = vec![b'{'; (1 << 20) + 1];
    assert_eq!(refusal(policy::check_manifest(&client("1.2.2"), &garbage, b"garbage")), RefusalKind::TooLarge);
    // A smaller cap is honoured.
    let (small, _) = release_manifest("1.2.3", 7);
    let mut policy = client("1.2.2");
    policy.max_manifest_bytes = 100;
    assert_eq!(refusal(check(&policy, &sign(&small))), RefusalKind::TooLarge);
}

#[test]
fn a_manifest_signed_by_an_unknown_key_is_refused() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let signed = manifest.sign(&stranger_key().secret).unwrap();
    match check(&client("1.2.2"), &signed) {
        Err(ManifestRefused::UnknownKey { key_id, trusted }) => {
            assert_eq!(key_id, stranger_key().secret.key_id());
            assert_eq!(trusted, [release_key().secret.key_id()]);
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    // Trusting both keys accepts it (key rotation).
    let mut policy = client("1.2.2");
    policy.trusted_keys.push(stranger_key().secret.public_key().clone());
    assert!(check(&policy, &signed).is_ok());
}

#[test]
fn a_trusted_comment_that_does_not_match_the_body_is_refused() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let json = manifest.to_json();
    for comment in [
        "hudson-channel-manifest/1 channel:stable sequence:8 kind:release version:1.2.3",
        "hudson-channel-manifest/1 channel:beta sequence:7 kind:release version:1.2.3",
        "hudson-channel-manifest/1 channel:stable sequence:7 kind:release version:1.2.4",
        "timestamp:1777636800\tfile:manifest.json",
    ] {
        let signature = sign_raw(&json, comment, &release_key().secret);
        match policy::check_manifest(&client("1.2.2"), &json, signature.as_bytes()) {
            Err(ManifestRefused::CommentMismatch { found, .. }) => assert_eq!(found, comment),
            other => panic!("{comment}: expected CommentMismatch, got {other:?}"),
        }
    }
}

#[test]
fn malformed_and_unknown_schema_manifests_are_refused_even_when_signed() {
    let key = &release_key().secret;
    let (manifest, _) = release_manifest("1.2.3", 7);
    let comment = manifest.trusted_comment();

    let not_json = b"{\"schema\": \"hudson-channel-manifest/1\",".to_vec();
    let signature = sign_raw(&not_json, &comment, key);
    assert_eq!(
        refusal(policy::check_manifest(&client("1.2.2"), &not_json, signature.as_bytes())),
        RefusalKind::Malformed
    );

    let mut bad_rollout = manifest.clone();
    bad_rollout.rollout.percent = 101;
    let json = bad_rollout.to_json();
    let signature = sign_raw(&json, &comment, key);
    match policy::check_manifest(&client("1.2.2"), &json, signature.as_bytes()) {
        Err(ManifestRefused::Malformed { detail }) => {
            assert!(detail.contains("rollout.percent"), "{detail}")
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(bad_rollout.sign(key).is_err(), "signing validates first");

    let mut future = manifest.clone();
    future.schema = "hudson-channel-manifest/2".to_owned();
    let json = future.to_json();
    let signature = sign_raw(&json, &comment, key);
    match policy::check_manifest(&client("1.2.2"), &json, signature.as_bytes()) {
        Err(ManifestRefused::UnknownSchema { found }) => {
            assert_eq!(found, "hudson-channel-manifest/2")
        }
        other => panic!("expected UnknownSchema, got {other:?}"),
    }
}

/// What a client shows and keeps is bounded by the schema, so a signed
/// manifest (a publishing mistake, or a stolen key) cannot hand it a
/// version of a hundred kilobytes or megabytes of notes.
#[test]
fn signed_manifests_with_an_overlong_version_or_notes_are_refused() {
    let key = &release_key().secret;
    let (manifest, _) = release_manifest("1.2.3", 7);
    let long = format!("1.2.3-{}", "a".repeat(signing::manifest::MAX_VERSION_CHARS));
    let mut long_version = manifest.clone();
    long_version.version = version(&long);
    let mut long_yank = manifest.clone();
    long_yank.kind = ManifestKind::Yank;
    long_yank.yanked = vec![version(&long)];
    let mut long_notes = manifest.clone();
    long_notes.notes = Some("n".repeat(signing::manifest::MAX_NOTES_BYTES + 1));
    for (bad, field) in [(long_version, "version"), (long_yank, "yanked"), (long_notes, "notes")] {
        let json = bad.to_json();
        let signature = sign_raw(&json, &bad.trusted_comment(), key);
        match policy::check_manifest(&client("1.2.2"), &json, signature.as_bytes()) {
            Err(ManifestRefused::Malformed { detail }) => assert!(detail.contains(field), "{detail}"),
            other => panic!("expected Malformed for {field}, got {other:?}"),
        }
        assert!(bad.sign(key).is_err(), "signing validates first");
    }
    let mut at_the_limit = manifest;
    at_the_limit.version = version(&format!("1.2.3-{}", "a".repeat(signing::manifest::MAX_VERSION_CHARS - 6)));
    at_the_limit.notes = Some("n".repeat(signing::manifest::MAX_NOTES_BYTES));
    assert!(at_the_limit.sign(key).is_ok());
}

#[test]
fn an_expired_manifest_is_refused() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    let mut policy = client("1.2.2");
    policy.now = EXPIRES;
    assert!(check(&policy, &signed).is_ok(), "valid up to and including expires_at");
    policy.now = EXPIRES + time::Duration::seconds(1);
    assert_eq!(refusal(check(&policy, &signed)), RefusalKind::Expired);
}

#[test]
fn sequence_replays_and_conflicts_are_refused() {
    let (older, _) = release_manifest("1.2.3", 6);
    let (current, _) = release_manifest("1.2.3", 7);
    let current_signed = sign(&current);
    let mut policy = client("1.2.2");
    policy.last_seen = Some(check(&policy, &current_signed).unwrap().seen);

    // An older manifest is a replay.
    match check(&policy, &sign(&older)) {
        Err(ManifestRefused::Replay { sequence: 6, last_seen: 7 }) => {}
        other => panic!("expected Replay, got {other:?}"),
    }
    // The same manifest again is the same state: fine.
    assert!(check(&policy, &current_signed).is_ok());
    // The same sequence with other content is a conflict.
    let mut other = current.clone();
    other.notes = Some("Different.".to_owned());
    assert_eq!(refusal(check(&policy, &sign(&other))), RefusalKind::SequenceConflict);
    // A higher sequence moves on.
    let (next, _) = release_manifest("1.2.3", 8);
    assert_eq!(check(&policy, &sign(&next)).unwrap().seen.sequence, 8);
    // The stored state is small and serialisable.
    let stored = serde_json::to_string(policy.last_seen.as_ref().unwrap()).unwrap();
    let _: SeenManifest = serde_json::from_str(&stored).unwrap();
}

#[test]
fn channel_and_platform_mismatches_are_refused() {
    let (mut manifest, _) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    let mut policy = client("1.2.2");
    policy.channel = "beta".to_owned();
    assert_eq!(refusal(check(&policy, &signed)), RefusalKind::ChannelMismatch);

    let mut policy = client("1.2.2");
    policy.platform = platform("darwin-aarch64-app");
    match check(&policy, &signed) {
        Err(ManifestRefused::PlatformMissing { platform: missing, available }) => {
            assert_eq!(missing.to_string(), "darwin-aarch64-app");
            assert_eq!(available.len(), 2);
        }
        other => panic!("expected PlatformMissing, got {other:?}"),
    }
    // A halt needs no platform: nothing is offered.
    manifest.kind = ManifestKind::Halt;
    manifest.platforms.clear();
    assert_eq!(check(&policy, &sign(&manifest)).unwrap().decision, Decision::Halted);
}

#[test]
fn an_offer_whose_download_address_breaks_the_transport_rule_is_refused() {
    let platform_key = platform("linux-x86_64-deb");
    for (url, why) in [
        ("http://updates.hudson.example/a.deb", "plain http://"),
        ("ftp://updates.hudson.example/a.deb", "scheme ftp://"),
        ("https://user:pw@updates.hudson.example/a.deb", "user name or password"),
        ("not a url", "not a URL"),
    ] {
        let (mut manifest, _) = release_manifest("1.2.3", 7);
        manifest.platforms.get_mut(&platform_key).unwrap().url = url.to_owned();
        match check(&client("1.2.2"), &sign(&manifest)) {
            Err(ManifestRefused::ArtifactUrl { url: refused, why: said }) => {
                assert_eq!(refused, url);
                assert!(said.contains(why), "{url}: {said}");
            }
            other => panic!("{url}: expected ArtifactUrl, got {other:?}"),
        }
    }
    // Loopback may be plain HTTP (tests, a local mirror).
    let (mut manifest, _) = release_manifest("1.2.3", 7);
    manifest.platforms.get_mut(&platform_key).unwrap().url = "http://127.0.0.1:8080/a.deb".to_owned();
    assert!(matches!(check(&client("1.2.2"), &sign(&manifest)).unwrap().decision, Decision::Install(_)));
}

#[test]
fn versions_not_newer_are_up_to_date_or_refused() {
    let (manifest, _) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    assert_eq!(check(&client("1.2.3"), &signed).unwrap().decision, Decision::UpToDate);
    assert_eq!(check(&client("1.2.3+build.5"), &signed).unwrap().decision, Decision::UpToDate);
    match check(&client("1.3.0"), &signed) {
        Err(ManifestRefused::VersionNotNewer { offered, installed }) => {
            assert_eq!((offered, installed), (version("1.2.3"), version("1.3.0")));
        }
        other => panic!("expected VersionNotNewer, got {other:?}"),
    }
    // A pre-release is older than its release.
    assert!(matches!(check(&client("1.2.3-rc.1"), &signed).unwrap().decision, Decision::Install(_)));
}

#[test]
fn a_yank_sends_only_yanked_installs_back() {
    let (mut yank, artifacts) = release_manifest("1.2.2", 9);
    yank.kind = ManifestKind::Yank;
    yank.yanked = vec![version("1.2.3")];
    yank.rollout.percent = 0;
    let signed = sign(&yank);
    let mut policy = client("1.2.3");
    policy.last_seen = Some(SeenManifest { sequence: 7, sha256: "0".repeat(64) });

    let check_yanked = check(&policy, &signed).unwrap();
    let Decision::Install(offer) = &check_yanked.decision else { panic!("{:?}", check_yanked.decision) };
    assert_eq!(offer.version, version("1.2.2"));
    assert_eq!(offer.reason, OfferReason::Yank);
    policy::verify_download(&artifacts["linux-x86_64-deb"].bytes[..], offer, &trusted()).unwrap();

    // Not for an install of another version above the target…
    let mut other = client("1.2.4");
    other.last_seen = policy.last_seen.clone();
    assert_eq!(refusal(check(&other, &signed)), RefusalKind::VersionNotNewer);
    // …and a yank below the last seen sequence is a replay like any other.
    policy.last_seen = Some(SeenManifest { sequence: 10, sha256: "0".repeat(64) });
    assert_eq!(refusal(check(&policy, &signed)), RefusalKind::Replay);
    // The target itself is up to date; older installs take it as a release
    // (subject to rollout, here 0%).
    assert_eq!(check(&client("1.2.2"), &signed).unwrap().decision, Decision::UpToDate);
    assert_eq!(check(&client("1.2.0"), &signed).unwrap().decision, Decision::NotInRollout { percent: 0 });
}

#[test]
fn rollout_and_minimum_version_hold_updates_back() {
    let (mut manifest, _) = release_manifest("1.2.3", 7);
    manifest.rollout.percent = 0;
    assert_eq!(check(&client("1.2.2"), &sign(&manifest)).unwrap().decision, Decision::NotInRollout { percent: 0 });

    manifest.rollout.percent = 50;
    let signed = sign(&manifest);
    let (mut inside, mut outside) = (0, 0);
    for n in 0..200 {
        let mut policy = client("1.2.2");
        policy.install_id = format!("install-{n:04}");
        match check(&policy, &signed).unwrap().decision {
            Decision::Install(_) => inside += 1,
            Decision::NotInRollout { percent: 50 } => outside += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(inside > 60 && outside > 60, "{inside} in, {outside} out");

    manifest.rollout.percent = 100;
    manifest.minimum_version = Some(version("1.1.0"));
    let signed = sign(&manifest);
    assert_eq!(
        check(&client("1.0.9"), &signed).unwrap().decision,
        Decision::InstallerRequired { minimum_version: version("1.1.0") }
    );
    assert!(matches!(check(&client("1.1.0"), &signed).unwrap().decision, Decision::Install(_)));
}

#[test]
fn downloads_that_do_not_match_the_offer_are_refused() {
    let (manifest, artifacts) = release_manifest("1.2.3", 7);
    let signed = sign(&manifest);
    let Decision::Install(offer) = check(&client("1.2.2"), &signed).unwrap().decision else { panic!() };
    let bytes = &artifacts["linux-x86_64-deb"].bytes;
    let keys = trusted();

    let mut longer = bytes.clone();
    longer.push(0);
    let refused = policy::verify_download(&longer[..], &offer, &keys);
    assert!(matches!(refused, Err(DownloadRefused::SizeMismatch { complete: false, .. })));
    // A download of exactly N bytes is never described as "more than N bytes".
    let message = refused.unwrap_err().to_string();
    let n = longer.len();
    assert!(!message.contains(&format!("more than {n} bytes")), "{message}");
    assert!(message.contains(&format!("at least {n} bytes")), "{message}");
    assert!(matches!(
        policy::verify_download(&bytes[..bytes.len() - 1], &offer, &keys),
        Err(DownloadRefused::SizeMismatch { complete: true, .. })
    ));
    let mut altered = bytes.clone();
    altered[10] ^= 1;
    assert!(matches!(
        policy::verify_download(&altered[..], &offer, &keys),
        Err(DownloadRefused::Sha256Mismatch { .. })
    ));

    // The rpm's valid signature on the deb's entry: size and hash match, the signature does not.
    let mut swapped = offer.clone();
    swapped.artifact.signature = manifest.platforms[&platform("linux-x86_64-rpm")].signature.clone();
    assert!(matches!(
        policy::verify_download(&bytes[..], &swapped, &keys),
        Err(DownloadRefused::SignatureMismatch { .. })
    ));

    // Signed by a key the app does not trust.
    let foreign = artifact("hudson_amd64.deb", "1.2.3", 1, &stranger_key().secret);
    let mut untrusted = offer.clone();
    untrusted.artifact.signature = foreign.signed.tauri_signature();
    assert!(matches!(policy::verify_download(&bytes[..], &untrusted, &keys), Err(DownloadRefused::UnknownKey { .. })));

    // A genuine signature of the same bytes for another version.
    let old = artifact("hudson_amd64.deb", "1.2.2", 1, &release_key().secret);
    let mut replayed = offer.clone();
    replayed.artifact.signature = old.signed.tauri_signature();
    match policy::verify_download(&bytes[..], &replayed, &keys) {
        Err(DownloadRefused::SignedVersionMismatch { found, .. }) => {
            assert_eq!(found.as_deref(), Some("1.2.2"))
        }
        other => panic!("expected SignedVersionMismatch, got {other:?}"),
    }

    let mut garbled = offer.clone();
    garbled.artifact.signature = "@@@".to_owned();
    assert!(matches!(
        policy::verify_download(&bytes[..], &garbled, &keys),
        Err(DownloadRefused::MalformedSignature { .. })
    ));
}
