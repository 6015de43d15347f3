//! The shell's own pages (loading, error), served by Tauri from `ui/` with a
//! strict CSP, so the window shows something the moment it opens.

use tauri::Url;

/// URL of a page in `ui/`, as Tauri serves it on this platform.
pub fn local(page: &str) -> Url {
    let base = if cfg!(windows) { "http://tauri.localhost/" } else { "tauri://localhost/" };
    Url::parse(base).and_then(|b| b.join(page)).expect("a valid local page URL")
}

/// The error page, with the reason and the backend's last lines in the
/// fragment (read by the page as text, never as HTML).
pub fn error(reason: &str, tail: &[String]) -> Url {
    let mut url = local("error.html");
    let mut fragment = String::from("reason=");
    fragment.push_str(&encode(reason));
    fragment.push_str("&tail=");
    fragment.push_str(&encode(&tail.join("\n")));
    url.set_fragment(Some(&fragment));
    url
}

/// True for the shell's own pages.
pub fn is_local(url: &Url) -> bool {
    matches!((url.scheme(), url.host_str()), ("tauri", Some("localhost")) | ("http" | "https", Some("tauri.localhost")))
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
