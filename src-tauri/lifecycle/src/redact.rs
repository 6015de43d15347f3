//! Secrets are removed from a line before it is written anywhere (the
//! shell's log file, stderr, error page; smoke's report): database URLs, API
//! keys, bearer tokens, tokens in query strings, and the exact secrets of
//! this process (handshake tokens, session cookies). The one redactor of the
//! project: the shell's log and `cargo xtask smoke` both use it.
//!
//! The patterns are deliberately greedy: a log line that loses a harmless
//! word is better than a log file that holds a credential.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret, unless [`Redactor::with_mark`] says otherwise.
pub const MARK: &str = "[REDACTED]";

/// One rule: a pattern, and what replaces a match: `before`, the mark,
/// `after` (`before` may keep a prefix group).
struct Rule {
    pattern: Regex,
    before: &'static str,
    after: &'static str,
}

fn rule(pattern: &str, before: &'static str, after: &'static str) -> Rule {
    Rule { pattern: Regex::new(pattern).expect("the redaction patterns are valid"), before, after }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // `DATABASE_URL=…`, `SECRET_KEY_BASE: …`, `STRIPE_API_KEY=…`, `FOO_TOKEN="…"`;
        // not inside a query string (`?token=…&x=1`), which the rule below
        // redacts up to the next `&`.
        rule(
            r#"(?i)(^|[^?&A-Z0-9_])((?:DATABASE_URL|[A-Z0-9_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY)[A-Z0-9_]*)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)"#,
            "${1}${2}",
            "",
        ),
        // Any postgres URL, credentials or not: host and database names are
        // not for a log either.
        rule(r#"(?i)\bpostgres(?:ql)?://[^\s"'<>]+"#, "postgres://", ""),
        // Credentials in any other URL.
        rule(r#"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s"'<>:@]+:[^/\s"'<>@]+@"#, "${1}", "@"),
        // OpenAI/Anthropic-style keys: sk-…, sk-proj-…, sk-ant-….
        rule(r"\bsk-[A-Za-z0-9_-]{8,}", "sk-", ""),
        // Shopify access tokens and secrets.
        rule(r"\bshp(?:at|ca|pa|ss)_[A-Za-z0-9]{8,}", "shpat_", ""),
        rule(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", "${1} ", ""),
        // The enter URL's token, and any other token in a query string.
        rule(r#"(?i)([?&](?:token|access_token|api_key|key)=)[^&\s#"']+"#, "${1}", ""),
        // A `token=` value anywhere, query string or not.
        rule(r"(token=)[A-Za-z0-9_%-]+", "${1}", ""),
    ]
});

/// A run of 32 or more hex digits: a token nobody told the redactor about.
static UNKNOWN_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9A-Fa-f]{32,}").expect("the redaction patterns are valid"));

/// Removes secrets from text. Holds the exact secrets of this process (the
/// handshake tokens of every launch, session cookies) besides the patterns.
#[derive(Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    mark: &'static str,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::with_mark(MARK)
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} exact secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor that writes `mark` in place of a secret (smoke's report
    /// says `<redacted>`). The mark must not contain `$`.
    pub fn with_mark(mark: &'static str) -> Self {
        Redactor { secrets: Vec::new(), mark }
    }

    /// Adds an exact secret (e.g. a handshake token). Short strings are
    /// ignored: redacting every "a" would destroy the log.
    pub fn add_secret(&mut self, secret: &str) {
        if secret.len() >= 8 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
        }
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), self.mark));
            }
        }
        for rule in RULES.iter() {
            if rule.pattern.is_match(&out) {
                let replacement = format!("{}{}{}", rule.before, self.mark, rule.after);
                let replaced = rule.pattern.replace_all(&out, replacement.as_str()).into_owned();
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// A line of a backend's output whose token may never have been known
    /// (a start that failed before it was added): as [`Redactor::redact`],
    /// and any run of 32 or more hex digits too.
    pub fn redact_output<'a>(&self, line: &'a str) -> Cow<'a, str> {
        match self.redact(line) {
            Cow::Borrowed(text) => UNKNOWN_TOKEN.replace_all(text, self.mark),
            Cow::Owned(text) => Cow::Owned(UNKNOWN_TOKEN.replace_all(&text, self.mark).into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new().redact(text).into_owned()
    }

    #[test]
    fn removes_every_listed_secret() {
        let cases = [
            ("DATABASE_URL=ecto://u:p@db/hudson", "DATABASE_URL=[REDACTED]"),
            ("env DATABASE_URL=\"postgres://a b\" x", "env DATABASE_URL=[REDACTED] x"),
            ("connecting to postgres://hudson:hunter2@db.internal:5432/prod", "connecting to postgres://[REDACTED]"),
            ("url=postgresql://db/x?sslmode=require", "url=postgres://[REDACTED]"),
            ("key sk-proj-AbCdEf0123456789xyz used", "key sk-[REDACTED] used"),
            ("shopify shpat_0123456789abcdef0123456789abcdef!", "shopify shpat_[REDACTED]!"),
            ("Authorization: Bearer eyJhbGciOi.J9.x-y_z", "Authorization: Bearer [REDACTED]"),
            ("GET /desktop/enter?token=abcdef0123 HTTP/1.1", "GET /desktop/enter?token=[REDACTED] HTTP/1.1"),
            ("SECRET_KEY_BASE: abc", "SECRET_KEY_BASE: [REDACTED]"),
            ("fetch https://user:pw@example.com/x", "fetch https://[REDACTED]@example.com/x"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "input: {input}");
        }
    }

    #[test]
    fn leaves_ordinary_lines_alone() {
        for line in [
            "[info] Running Hudson on 127.0.0.1:4000",
            "disk-usage-1234567890 task-abcdefghij",
            "PORT:4000",
            "the token was accepted",
            "https://hudson.example/docs",
        ] {
            assert!(matches!(Redactor::new().redact(line), Cow::Borrowed(_)), "{line}");
        }
    }

    #[test]
    fn removes_exact_secrets_wherever_they_appear() {
        let mut redactor = Redactor::new();
        let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        redactor.add_secret(token);
        redactor.add_secret("ab");
        let line = format!("{{\"port\":1,\"token\":\"{token}\"}} and {token}x");
        let out = redactor.redact(&line);
        assert!(!out.contains(token), "{out}");
        assert_eq!(out, r#"{"port":1,"token":"[REDACTED]"} and [REDACTED]x"#);
        assert_eq!(redactor.redact("about"), "about");
    }

    #[test]
    fn query_tokens_keep_the_rest_and_unknown_tokens_go_from_output() {
        let redactor = Redactor::new();
        assert_eq!(redactor.redact("GET /enter?token=feedbeef&x=1 failed"), "GET /enter?token=[REDACTED]&x=1 failed");
        assert_eq!(redactor.redact("retry with token=feedbeef."), "retry with token=[REDACTED]");
        let token = "0f".repeat(32);
        assert_eq!(redactor.redact(&format!("starting with {token}")), format!("starting with {token}"));
        assert_eq!(redactor.redact_output(&format!("starting with {token}")), "starting with [REDACTED]");
        assert_eq!(Redactor::with_mark("<x>").redact("Bearer abc"), "Bearer <x>");
    }
}
