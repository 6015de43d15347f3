//! The release workflow (`.github/workflows/release.yml`) calls `cargo xtask`
//! for every piece of release work. These tests parse each of those command
//! lines with the real CLI definition, so a renamed flag or subcommand fails
//! here rather than in the middle of a release.

use clap::Parser;

const WORKFLOW: &str = include_str!("../../../.github/workflows/release.yml");

/// Commands `cargo xtask-light` (xtask without its release tools) can run.
const LIGHT_COMMANDS: &[&str] =
    &["plan", "doctor", "status", "verify", "keygen", "publish", "promote", "rollout", "halt", "yank", "check-targets"];

/// Every `cargo xtask …` and `cargo xtask-light …` command line of the
/// workflow, with its line number, whether it is the light build,
/// continuation lines joined and GitHub expressions and shell variables
/// replaced by sample values.
fn xtask_lines(text: &str) -> Vec<(usize, bool, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let mut line = lines[i].trim().to_owned();
        while line.ends_with('\\') && i + 1 < lines.len() {
            line.pop();
            i += 1;
            line.push(' ');
            line.push_str(lines[i].trim());
        }
        i += 1;
        let line = line.strip_prefix("run:").map(str::trim).unwrap_or(&line).to_owned();
        if line.starts_with('#') {
            continue;
        }
        for (call, light) in [("cargo xtask ", false), ("cargo xtask-light ", true)] {
            if let Some(at) = line.find(call) {
                let command = &line[at + call.len()..];
                found.push((number, light, shell_words(&substitute(command))));
            }
        }
    }
    found
}

fn substitute(command: &str) -> String {
    let mut out = String::new();
    let mut rest = command;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map(|e| start + e + 2).unwrap_or(rest.len());
        let expr = &rest[start + 3..end - 2];
        out.push_str(if expr.contains("matrix.target") { "x86_64-unknown-linux-gnu" } else { "sample" });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Splits like a POSIX shell (quotes, `$VAR`), stopping at a redirection,
/// pipe or command separator.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (_, '$') if chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '_' || *n == '{') => {
                let mut name = String::new();
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced {
                    chars.next();
                }
                word.push_str(&format!("sample-{}", name.to_lowercase()));
                in_word = true;
            }
            (None, '>' | '|' | ';' | '&') => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[test]
fn every_xtask_line_of_the_workflow_parses_with_the_real_cli() {
    let lines = xtask_lines(WORKFLOW);
    let commands: Vec<&str> = lines.iter().filter_map(|(_, _, args)| args.first().map(String::as_str)).collect();
    for expected in ["plan", "doctor", "dist", "smoke", "publish"] {
        assert!(commands.contains(&expected), "the workflow never runs `cargo xtask {expected}`: {commands:?}");
    }
    let mut failures = Vec::new();
    for (number, light, args) in &lines {
        if *light && !LIGHT_COMMANDS.contains(&args.first().map(String::as_str).unwrap_or_default()) {
            failures
                .push(format!("release.yml:{number}: `cargo xtask-light {}` needs the release tools", args.join(" ")));
        }
        let argv = std::iter::once("cargo xtask".to_owned()).chain(args.iter().cloned());
        if let Err(e) = crate::cli::Cli::try_parse_from(argv) {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            failures.push(format!("release.yml:{number}: cargo xtask {}: {first}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "workflow lines the CLI rejects:\n{}", failures.join("\n"));
}

#[test]
fn the_plan_job_builds_xtask_without_the_release_tools() {
    let plan: Vec<_> = xtask_lines(WORKFLOW).into_iter().filter(|(_, _, args)| args[0] == "plan").collect();
    assert!(!plan.is_empty() && plan.iter().all(|(_, light, _)| *light), "{plan:?}");
}

#[test]
fn the_line_reader_sees_what_a_shell_would() {
    let text = "      - run: cargo xtask dist --target ${{ matrix.target }} --format json > out.json\n\
                \x20       cargo xtask publish --channel \"$CHANNEL\" \\\n          --base-url 'https://x/' a.json\n";
    let lines = xtask_lines(text);
    assert_eq!(lines[0].2, ["dist", "--target", "x86_64-unknown-linux-gnu", "--format", "json"]);
    assert_eq!(lines[1].0, 2);
    assert!(!lines[1].1, "not the light build");
    assert_eq!(lines[1].2, ["publish", "--channel", "sample-channel", "--base-url", "https://x/", "a.json"]);
    // A wrong flag must be caught.
    let argv = ["cargo xtask", "dist", "--targt", "x"];
    assert!(crate::cli::Cli::try_parse_from(argv).is_err());
}

#[test]
fn secrets_reach_only_the_signing_steps() {
    // Each step is a `- name:` block; a `secrets.` reference may appear only
    // in the env of a step that signs (dist or publish).
    let mut step = String::new();
    let mut steps = Vec::new();
    for line in WORKFLOW.lines() {
        if line.trim_start().starts_with("- ") && !step.is_empty() {
            steps.push(std::mem::take(&mut step));
        }
        step.push_str(line);
        step.push('\n');
    }
    steps.push(step);
    for step in steps.iter().filter(|s| s.contains("secrets.")) {
        assert!(
            step.contains("cargo xtask dist") || step.contains("cargo xtask publish"),
            "a step that does not sign sees secrets:\n{step}"
        );
    }
    assert!(!WORKFLOW.lines().any(|l| l.trim_start().starts_with("env:") && l.contains("secrets.")));
}
