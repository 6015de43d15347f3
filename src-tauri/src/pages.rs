//! The shell's own pages (loading, error, damaged installation, update
//! required, updates), served by Tauri from `ui/` with a strict CSP, so the
//! window shows something the moment it opens. What a page shows travels in
//! the URL fragment and is rendered as text, never as HTML.

use tauri::Url;

/// URL of a page in `ui/`, as Tauri serves it on this platform.
pub fn local(page: &str) -> Url {
    let base = if cfg!(windows) { "http://tauri.localhost/" } else { "tauri://localhost/" };
    Url::parse(base).and_then(|b| b.join(page)).expect("a valid local page URL")
}

/// The loading page, optionally saying why it is shown again.
pub fn loading(status: Option<&str>) -> Url {
    with_fragment("index.html", status.map(|s| ("status", s.to_owned())).into_iter().collect())
}

/// The error page: the reason and the last log lines (already redacted).
pub fn error(reason: &str, tail: &[String]) -> Url {
    with_fragment("error.html", vec![("reason", reason.to_owned()), ("tail", tail.join("\n"))])
}

/// "The installation is damaged — reinstall", naming each module.
pub fn damaged(modules: &[(String, String)]) -> Url {
    with_fragment("damaged.html", modules.iter().map(|(name, why)| ("module", format!("{name}:{why}"))).collect())
}

/// "Update required", with a Check for updates button.
pub fn update_required(version: &str) -> Url {
    with_fragment("update.html", vec![("version", version.to_owned())])
}

/// True for the shell's own pages.
pub fn is_local(url: &Url) -> bool {
    matches!((url.scheme(), url.host_str()), ("tauri", Some("localhost")) | ("http" | "https", Some("tauri.localhost")))
}

fn with_fragment(page: &str, pairs: Vec<(&str, String)>) -> Url {
    let mut url = local(page);
    if !pairs.is_empty() {
        let fragment: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        url.set_fragment(Some(&fragment.join("&")));
    }
    url
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_their_text_in_the_fragment_encoded() {
        let url = error("it failed & <b>", &["a".into(), "b=c".into()]);
        assert_eq!(url.path(), "/error.html");
        assert_eq!(url.fragment(), Some("reason=it%20failed%20%26%20%3Cb%3E&tail=a%0Ab%3Dc"));
        let url = damaged(&[("hudson_nif".into(), "enoent".into())]);
        assert_eq!(url.fragment(), Some("module=hudson_nif%3Aenoent"));
        assert_eq!(loading(None).fragment(), None);
        assert!(is_local(&url));
        assert!(!is_local(&Url::parse("http://127.0.0.1:4000/").unwrap()));
        assert!(!is_local(&Url::parse("https://tauri.localhost.evil.com/").unwrap()));
    }
}
