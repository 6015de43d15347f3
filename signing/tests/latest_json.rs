//! The `latest.json` this crate writes reads with tauri-plugin-updater's
//! field rules, and its signatures pass the updater's checks.

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use signing::latest::{LatestJson, LatestPlatform, StockRelease};
use signing::manifest::{ChannelManifest, ManifestKind};

#[test]
fn a_generated_latest_json_reads_as_tauri_reads_it_and_its_signatures_verify() {
    let (manifest, artifacts) = release_manifest("1.2.3", 1);
    let latest = LatestJson {
        version: manifest.version.clone(),
        notes: manifest.notes.clone(),
        pub_date: Some(ISSUED),
        platforms: manifest
            .platforms
            .iter()
            .map(|(key, entry)| (*key, LatestPlatform { url: entry.url.clone(), signature: entry.signature.clone() }))
            .collect::<BTreeMap<_, _>>(),
    };
    let json = latest.to_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains("\"pub_date\": \"2026-05-01T12:00:00Z\""), "{text}");
    assert!(text.ends_with("}\n"));
    assert_eq!(LatestJson::from_json(&json).unwrap(), latest);

    let release = StockRelease::parse(&json).unwrap();
    assert_eq!(release.version, version("1.2.3"));
    assert_eq!(release.notes.as_deref(), Some("Faster start-up."));
    assert_eq!(release.pub_date, Some(ISSUED));

    // The updater looks up `{os}-{arch}-{installer}` first, then `{os}-{arch}`.
    let target = release.platforms.get("linux-x86_64-deb").or_else(|| release.platforms.get("linux-x86_64")).unwrap();
    assert_eq!(target.url.scheme(), "https");
    let bytes = &artifacts["linux-x86_64-deb"].bytes;
    let pubkey =
        String::from_utf8(BASE64.decode(release_key().secret.public_key().to_tauri_base64()).unwrap()).unwrap();
    let public_key = minisign_verify::PublicKey::decode(&pubkey).unwrap();
    let signature = String::from_utf8(BASE64.decode(&target.signature).unwrap()).unwrap();
    let signature = minisign_verify::Signature::decode(&signature).unwrap();
    public_key.verify(bytes, &signature, true).unwrap();
    // requireSignedVersion: the trusted comment names the release's version.
    let signed = signature.trusted_comment().split('\t').find_map(|field| field.strip_prefix("version:"));
    assert_eq!(signed, Some(release.version.to_string().as_str()));
    // The rpm's signature does not pass for the deb's bytes (no mix-and-match).
    let rpm = &release.platforms["linux-x86_64-rpm"].signature;
    let rpm = minisign_verify::Signature::decode(&String::from_utf8(BASE64.decode(rpm).unwrap()).unwrap()).unwrap();
    assert!(public_key.verify(bytes, &rpm, true).is_err());
}

#[test]
fn tauri_reads_a_leading_v_and_this_crate_writes_plain_semver() {
    let json = br#"{"version":"v1.0.0","platforms":{"darwin-aarch64":{"url":"https://x.example/a.tar.gz","signature":"c2ln"}}}"#;
    let release = StockRelease::parse(json).unwrap();
    assert_eq!(release.version, version("1.0.0"));
    assert!(release.pub_date.is_none() && release.notes.is_none());
    let latest = LatestJson {
        version: version("1.0.0"),
        notes: None,
        pub_date: None,
        platforms: BTreeMap::from([(
            platform("darwin-aarch64"),
            LatestPlatform { url: "https://x.example/a.tar.gz".into(), signature: "c2ln".into() },
        )]),
    };
    let text = String::from_utf8(latest.to_json()).unwrap();
    assert!(text.contains("\"version\": \"1.0.0\"") && !text.contains("notes") && !text.contains("pub_date"), "{text}");
}

/// The updater's default rule (`version > current`) and its platform lookup:
/// `Some(key)` when a stock updater at `installed` on `platform` would
/// install something, `None` when it finds no update. An update without a
/// matching platform is an error the user would see.
fn stock_updater_installs(json: &[u8], installed: &str, platform: &str) -> Result<Option<String>, String> {
    let release = StockRelease::parse(json).map_err(|e| e.to_string())?;
    if release.version <= version(installed) {
        return Ok(None);
    }
    let (os_arch, _) = platform.rsplit_once('-').unwrap();
    match release.platforms.get(platform).or_else(|| release.platforms.get(os_arch)) {
        Some(target) => Ok(Some(target.url.to_string())),
        None => Err(format!("the platform {platform} was not found in the response platforms object")),
    }
}

#[test]
fn a_halted_channel_offers_a_stock_updater_nothing_and_no_error() {
    let latest = LatestJson::offering_nothing(ISSUED);
    let json = latest.to_json();
    for installed in ["0.0.1", "1.2.3", "9.0.0-rc.1"] {
        assert_eq!(stock_updater_installs(&json, installed, "linux-x86_64-deb"), Ok(None), "{installed}");
    }
    assert_eq!(LatestJson::from_json(&json).unwrap(), latest);
}

#[test]
fn stock_updaters_get_full_releases_and_yank_targets_but_not_partial_rollouts() {
    let (v1, _) = release_manifest("1.0.0", 1);
    let (mut v2_partial, _) = release_manifest("2.0.0", 2);
    v2_partial.rollout.percent = 10;
    let mut v2_full = v2_partial.clone();
    v2_full.sequence = 3;
    v2_full.rollout.percent = 100;
    let mut yank = v1.clone();
    yank.sequence = 4;
    yank.kind = ManifestKind::Yank;
    yank.yanked = vec![version("2.0.0")];
    let mut halt = yank.clone();
    halt.sequence = 5;
    halt.kind = ManifestKind::Halt;
    halt.yanked = vec![];
    halt.platforms.clear();

    let offered = |history: &[ChannelManifest]| {
        let json = LatestJson::for_history(history).unwrap().to_json();
        stock_updater_installs(&json, "0.9.0", "linux-x86_64-deb").unwrap()
    };
    let deb_url = |manifest: &ChannelManifest| Some(manifest.platforms[&platform("linux-x86_64-deb")].url.clone());
    assert_eq!(offered(std::slice::from_ref(&v1)), deb_url(&v1));
    assert_eq!(offered(&[v1.clone(), v2_partial.clone()]), deb_url(&v1), "a 10 % rollout is held back");
    assert_eq!(offered(&[v2_partial.clone()]), None, "nothing was fully released yet");
    assert_eq!(offered(&[v1.clone(), v2_partial.clone(), v2_full.clone()]), deb_url(&v2_full));
    let yanked = [v1.clone(), v2_partial.clone(), v2_full.clone(), yank.clone()];
    assert_eq!(offered(&yanked), deb_url(&v1), "the yank offers the release it goes back to");
    assert_eq!(LatestJson::for_history(&yanked).unwrap().version, version("1.0.0"));
    assert_eq!(offered(&[v1, v2_partial, v2_full, yank, halt]), None, "a halt offers nothing");
    assert!(LatestJson::for_history(&[]).is_none());
}
