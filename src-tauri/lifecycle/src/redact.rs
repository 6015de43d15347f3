//! Secrets are removed from a line before it is written anywhere (log file,
//! stderr, error page): database URLs, API keys, bearer tokens, and this
//! process's handshake tokens.
//!
//! The patterns are deliberately greedy: a log line that loses a harmless
//! word is better than a log file that holds a credential.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret.
pub const MARK: &str = "[REDACTED]";

/// One rule: a pattern and its replacement (which may keep a prefix group).
struct Rule {
    pattern: Regex,
    replacement: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, replacement: &'static str| Rule {
        pattern: Regex::new(pattern).expect("the redaction patterns are valid"),
        replacement,
    };
    vec![
        // `DATABASE_URL=…`, `SECRET_KEY_BASE: …`, `STRIPE_API_KEY=…`, `FOO_TOKEN="…"`.
        rule(
            r#"(?i)\b((?:DATABASE_URL|[A-Z0-9_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY)[A-Z0-9_]*)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)"#,
            "${1}[REDACTED]",
        ),
        // Any postgres URL, credentials or not: host and database names are
        // not for a log either.
        rule(r#"(?i)\bpostgres(?:ql)?://[^\s"'<>]+"#, "postgres://[REDACTED]"),
        // Credentials in any other URL.
        rule(r#"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s"'<>:@]+:[^/\s"'<>@]+@"#, "${1}[REDACTED]@"),
        // OpenAI/Anthropic-style keys: sk-…, sk-proj-…, sk-ant-….
        rule(r"\bsk-[A-Za-z0-9_-]{8,}", "sk-[REDACTED]"),
        // Shopify access tokens and secrets.
        rule(r"\bshp(?:at|ca|pa|ss)_[A-Za-z0-9]{8,}", "shpat_[REDACTED]"),
        rule(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", "${1} [REDACTED]"),
        // The enter URL's token, and any other token in a query string.
        rule(r#"(?i)([?&](?:token|access_token|api_key|key)=)[^&\s#"']+"#, "${1}[REDACTED]"),
    ]
});

/// Removes secrets from text. Holds the exact secrets of this process (the
/// handshake tokens of every launch) besides the patterns.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
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
                out = Cow::Owned(out.replace(secret.as_str(), MARK));
            }
        }
        for rule in RULES.iter() {
            if let Cow::Owned(replaced) = rule.pattern.replace_all(&out, rule.replacement) {
                out = Cow::Owned(replaced);
            }
        }
        out
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
}
