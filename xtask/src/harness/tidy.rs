//! Tests of the code's shape, in the spirit of rust-analyzer's `tidy`: the
//! folders of `xtask/src/` use each other only as the table "`xtask/src/`
//! by role" in `docs/ARCHITECTURE.md` allows (read from the doc, so the two
//! cannot drift); in particular the release tool's own folders never import
//! the test harness, so `dist`, the channel commands and `smoke` cannot come
//! to depend on a test double; and `dist` never builds the shell's
//! benchmark switch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The heading of the table in `docs/ARCHITECTURE.md`.
const TABLE_HEADING: &str = "### `xtask/src/` by role";

/// One row of the table: the folders (`core/`) or root files (`main.rs`)
/// it names, and what their code may use.
#[derive(Debug, PartialEq)]
struct Role {
    entries: Vec<String>,
    may_use: MayUse,
}

#[derive(Debug, PartialEq)]
enum MayUse {
    /// `everything`, `anything`.
    Everything,
    /// The folders named in backquotes (`—`: none); those after `(tests:`
    /// only from `#[cfg(test)]` code.
    Only { always: Vec<String>, in_tests: Vec<String> },
}

/// The words of `text` in backquotes.
fn quoted(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The rows of the table under [`TABLE_HEADING`] in `doc`.
fn architecture_table(doc: &str) -> Result<Vec<Role>, String> {
    let mut lines = doc.lines().skip_while(|line| line.trim() != TABLE_HEADING);
    if lines.next().is_none() {
        return Err(format!("no heading `{TABLE_HEADING}`"));
    }
    let rows: Vec<&str> =
        lines.skip_while(|l| l.trim().is_empty()).take_while(|l| l.trim_start().starts_with('|')).skip(2).collect();
    if rows.is_empty() {
        return Err(format!("no table under `{TABLE_HEADING}`"));
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<&str> = row.trim().trim_matches('|').split('|').map(str::trim).collect();
            let [names, _holds, may_use] = cells[..] else {
                return Err(format!("not three columns (folder | holds | may use): {row}"));
            };
            let entries = quoted(names);
            let lower = may_use.to_lowercase();
            let may_use = if lower.starts_with("everything") || lower.starts_with("anything") {
                MayUse::Everything
            } else {
                let (always, in_tests) = may_use.split_once("(tests:").unwrap_or((may_use, ""));
                let (always, in_tests) = (quoted(always), quoted(in_tests));
                if always.is_empty() && in_tests.is_empty() && !matches!(may_use, "—" | "-" | "nothing") {
                    return Err(format!("cannot read what `{names}` may use: {may_use}"));
                }
                MayUse::Only { always, in_tests }
            };
            if entries.is_empty() {
                return Err(format!("no folder or file in backquotes: {row}"));
            }
            Ok(Role { entries, may_use })
        })
        .collect()
}

/// A token of Rust source that matters to paths.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of `source` with their lines (from 1), leaving out comments,
/// string and character literals, numbers and lifetimes.
fn tokens(source: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    // Skips a string whose opening quote is at `i`; `hashes` for raw ones
    // (`None`: escapes count).
    let string = |mut i: usize, hashes: Option<usize>, line: &mut usize| -> usize {
        i += 1;
        while i < chars.len() {
            match (chars[i], hashes) {
                ('\\', None) => i += 1,
                ('"', None) => return i + 1,
                ('"', Some(n)) if (1..=n).all(|k| at(i + k) == '#') => return i + 1 + n,
                _ => {}
            }
            if at(i) == '\n' {
                *line += 1;
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let (c, next) = (chars[i], at(i + 1));
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            i = string(i, None, &mut line);
        } else if c == '\'' {
            if next == '\\' {
                // '\n', '\'', '\u{1F600}'
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or a label: its name is harmless.
                i += 1;
            }
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let hashes = (0..).take_while(|k| at(i + k) == '#').count();
            match word.as_str() {
                "r" | "br" | "cr" if at(i + hashes) == '"' => i = string(i + hashes, Some(hashes), &mut line),
                "b" | "c" if at(i) == '"' => i = string(i, None, &mut line),
                // b'x': the character literal is skipped next.
                "b" if at(i) == '\'' => {}
                _ => out.push((line, Token::Ident(word))),
            }
        } else if c == ':' && next == ':' {
            out.push((line, Token::PathSep));
            i += 2;
        } else {
            out.push((line, Token::Punct(c)));
            i += 1;
        }
    }
    out
}

/// A path of one file that names a module of the crate.
#[derive(Debug, PartialEq)]
struct Reference {
    line: usize,
    /// The crate's top-level module the path goes into (`core`, `cli`…),
    /// or an item of the crate root (`*` for a glob of it).
    module: String,
    /// Only in `#[cfg(test)]` code of the file.
    test: bool,
}

/// What [`scan`] finds in one file.
#[derive(Debug, Default)]
struct Scan {
    references: Vec<Reference>,
    /// Modules of their own file declared under `#[cfg(test)]` (`mod tests;`).
    test_modules: Vec<String>,
}

/// Every path of `source` that starts at the crate root, `super` or `self`
/// (`crate::core::ui::Ui`, `super::super::platform`, `$crate::…`, each
/// member of `use crate::{a, b::c}`), with the top-level module it reaches
/// from `module`, the module the file is (`["core", "doctor"]` for
/// `core/doctor.rs`; inline `mod x { … }` blocks count).
fn scan(source: &str, module: &[&str]) -> Scan {
    struct Scope {
        module: Option<String>,
        test: bool,
    }
    let tokens = tokens(source);
    let ident = |i: usize| match tokens.get(i) {
        Some((_, Token::Ident(word))) => Some(word.as_str()),
        _ => None,
    };
    let is = |i: usize, token: &Token| tokens.get(i).is_some_and(|(_, t)| t == token);
    let mut scan = Scan::default();
    let mut scopes: Vec<Scope> = Vec::new();
    let mut file_test = false;
    // A `#[cfg(test)]` waiting for the item it is on.
    let mut pending_test = false;
    let mut i = 0;
    while i < tokens.len() {
        let in_test = file_test || pending_test || scopes.iter().any(|s| s.test);
        match &tokens[i].1 {
            Token::Punct('#') => {
                let inner = is(i + 1, &Token::Punct('!'));
                let open = i + 1 + usize::from(inner);
                if is(open, &Token::Punct('[')) {
                    let close = closing(&tokens, open);
                    if cfg_test(&tokens[open + 1..close]) {
                        match (inner, scopes.last_mut()) {
                            (false, _) => pending_test = true,
                            (true, Some(scope)) => scope.test = true,
                            (true, None) => file_test = true,
                        }
                    }
                    // Its paths count too (`value_parser = crate::…`).
                    i = open + 1;
                    continue;
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let Some(name) = ident(i + 1) {
                    if is(i + 2, &Token::Punct(';')) && in_test {
                        scan.test_modules.push(name.to_owned());
                    } else if is(i + 2, &Token::Punct('{')) {
                        scopes.push(Scope { module: Some(name.to_owned()), test: in_test });
                        pending_test = false;
                        i += 3;
                        continue;
                    }
                }
            }
            Token::Punct('{') => {
                scopes.push(Scope { module: None, test: in_test });
                pending_test = false;
            }
            Token::Punct('}') => {
                scopes.pop();
            }
            Token::Punct(';') => pending_test = false,
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && is(i + 1, &Token::PathSep)
                    && !(i > 0 && is(i - 1, &Token::PathSep)) =>
            {
                let mut base: Vec<&str> = module.to_vec();
                base.extend(scopes.iter().filter_map(|s| s.module.as_deref()));
                let mut j = i;
                let mut above_the_crate = false;
                while let Some(word @ ("crate" | "super" | "self")) = ident(j) {
                    match word {
                        "crate" => base.clear(),
                        "super" => above_the_crate |= base.pop().is_none(),
                        _ => {}
                    }
                    if !is(j + 1, &Token::PathSep) {
                        break;
                    }
                    j += 2;
                }
                let modules: Vec<String> = match (base.first(), tokens.get(j)) {
                    _ if above_the_crate => Vec::new(),
                    (Some(top), _) => vec![(*top).to_owned()],
                    // `use super::super;`: the crate root itself.
                    (None, Some((_, Token::Ident(name)))) if matches!(name.as_str(), "crate" | "super" | "self") => {
                        vec!["*".to_owned()]
                    }
                    (None, Some((_, Token::Ident(name)))) => vec![name.clone()],
                    (None, Some((_, Token::Punct('*')))) => vec!["*".to_owned()],
                    (None, Some((_, Token::Punct('{')))) => group_heads(&tokens, j),
                    (None, _) => Vec::new(),
                };
                let line = tokens[i].0;
                scan.references.extend(modules.into_iter().map(|module| Reference { line, module, test: in_test }));
                // A group's braces are left to the scopes above.
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

/// The index of the bracket closing the one at `open`.
fn closing(tokens: &[(usize, Token)], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, (_, token)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('[' | '(' | '{') => depth += 1,
            Token::Punct(']' | ')' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// The first name of each member of the `use` group opening at `open`:
/// `core` and `platform` in `{core::ui::Ui, platform::{a, b}}`.
fn group_heads(tokens: &[(usize, Token)], open: usize) -> Vec<String> {
    let close = closing(tokens, open);
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (_, token) in &tokens[open + 1..close] {
        match token {
            Token::Ident(name) if at_start && depth == 0 => heads.push(name.clone()),
            Token::Punct('*') if at_start && depth == 0 => heads.push("*".to_owned()),
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => depth -= 1,
            _ => {}
        }
        at_start = depth == 0 && *token == Token::Punct(',');
    }
    heads
}

/// `cfg(test)` or `cfg(all(…, test, …))`: code that only tests build.
fn cfg_test(attribute: &[(usize, Token)]) -> bool {
    let words: Vec<&Token> = attribute.iter().map(|(_, t)| t).collect();
    let ident = |t: &Token, name: &str| matches!(t, Token::Ident(w) if w == name);
    match words.as_slice() {
        [cfg, Token::Punct('('), test, Token::Punct(')')] => ident(cfg, "cfg") && ident(test, "test"),
        [cfg, Token::Punct('('), all, Token::Punct('('), rest @ ..] if ident(cfg, "cfg") && ident(all, "all") => {
            let mut depth = 0i32;
            rest.iter().any(|t| {
                match t {
                    Token::Punct('(') => depth += 1,
                    Token::Punct(')') => depth -= 1,
                    _ => {}
                }
                depth == 0 && ident(t, "test")
            })
        }
        _ => false,
    }
}

/// The module a file of `src/` is: `["core", "doctor"]` for
/// `core/doctor.rs`, `["platform", "linux"]` for `platform/linux/mod.rs`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut module: Vec<String> =
        relative.with_extension("").components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    module
}

/// Every reference in the `.rs` files of `src/<folder>/`, as
/// `(file relative to src, reference)`, with `test` also set for every
/// reference in a file that is a `#[cfg(test)]` module.
fn folder_references(src: &Path, folder: &str) -> Vec<(PathBuf, Reference)> {
    let mut scans: BTreeMap<Vec<String>, (PathBuf, Scan)> = BTreeMap::new();
    for file in rust_files(&src.join(folder)) {
        let relative = file.strip_prefix(src).unwrap().to_path_buf();
        let module = module_of(&relative);
        let names: Vec<&str> = module.iter().map(String::as_str).collect();
        let scan = scan(&std::fs::read_to_string(&file).unwrap(), &names);
        scans.insert(module, (relative, scan));
    }
    let test_file = |module: &[String]| {
        (1..module.len()).any(|depth| {
            scans.get(&module[..depth]).is_some_and(|(_, parent)| parent.test_modules.contains(&module[depth]))
        })
    };
    let mut references = Vec::new();
    for (module, (file, scan)) in &scans {
        let whole_file_test = test_file(module);
        for reference in &scan.references {
            let test = reference.test || whole_file_test;
            references.push((file.clone(), Reference { line: reference.line, module: reference.module.clone(), test }));
        }
    }
    references.sort_by(|a, b| (&a.0, a.1.line).cmp(&(&b.0, b.1.line)));
    references
}

fn architecture_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each folder of `xtask/src/` uses only what its row of the table in
/// `docs/ARCHITECTURE.md` says it may: the table is read from the doc, and
/// a row naming a folder that is gone, or a folder the table does not
/// name, fails too.
#[test]
fn the_folders_use_each_other_only_as_the_architecture_table_says() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table = architecture_table(&architecture_doc())
        .unwrap_or_else(|e| panic!("docs/ARCHITECTURE.md, table \"{TABLE_HEADING}\": {e}"));
    let names: Vec<&str> = table.iter().flat_map(|role| role.entries.iter().map(String::as_str)).collect();
    for name in &names {
        let path = src.join(name);
        assert!(
            if name.ends_with('/') { path.is_dir() } else { path.is_file() },
            "docs/ARCHITECTURE.md names `{name}` in \"{TABLE_HEADING}\", and xtask/src/{name} is not there: update the table"
        );
    }
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let name = if path.is_dir() { format!("{name}/") } else { name };
        assert!(
            names.contains(&name.as_str()),
            "xtask/src/{name} has no row in docs/ARCHITECTURE.md's \"{TABLE_HEADING}\""
        );
    }
    // A module name to the entry of the table holding it; an item of the
    // crate root is main.rs's.
    let entry_of = |module: &str| {
        names
            .iter()
            .copied()
            .find(|name| name.strip_suffix('/').or(name.strip_suffix(".rs")) == Some(module))
            .unwrap_or("main.rs")
    };
    let mut offenders = Vec::new();
    for role in &table {
        let MayUse::Only { always, in_tests } = &role.may_use else { continue };
        for name in always.iter().chain(in_tests) {
            assert!(
                names.contains(&format!("{name}/").as_str()) || names.contains(&format!("{name}.rs").as_str()),
                "docs/ARCHITECTURE.md: {:?} may use `{name}`, which is not a row of the table",
                role.entries
            );
        }
        for folder in role.entries.iter().filter_map(|e| e.strip_suffix('/')) {
            for (file, reference) in folder_references(&src, folder) {
                let target = entry_of(&reference.module);
                let allowed = target == format!("{folder}/")
                    || always.iter().any(|a| entry_of(a) == target)
                    || (reference.test && in_tests.iter().any(|a| entry_of(a) == target));
                if !allowed {
                    let line = std::fs::read_to_string(src.join(&file)).unwrap();
                    let line = line.lines().nth(reference.line - 1).unwrap_or("").trim().to_owned();
                    offenders.push(format!(
                        "xtask/src/{}:{}: {folder}/ uses {target}{}: {line}",
                        file.display(),
                        reference.line,
                        if reference.test { " (in test code)" } else { "" }
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these uses are not allowed by docs/ARCHITECTURE.md's table \"{TABLE_HEADING}\" \
         (move what is needed to a folder the user may use; or, if the arrow is right, \
         add it to the table and say why):\n{}",
        offenders.join("\n")
    );
}

/// The special case that matters most, kept on its own so that no edit of
/// the table can allow it: nothing but the harness itself (and `main.rs`,
/// `cli.rs`, which dispatch to it) names the harness, tests included.
#[test]
fn release_code_never_imports_the_harness() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table = architecture_table(&architecture_doc()).unwrap();
    let mut offenders = Vec::new();
    for role in &table {
        for folder in role.entries.iter().filter_map(|e| e.strip_suffix('/')).filter(|f| *f != "harness") {
            assert!(
                role.may_use != MayUse::Everything,
                "docs/ARCHITECTURE.md lets {folder}/ use everything, the test harness too"
            );
            for (file, reference) in folder_references(&src, folder) {
                if reference.module == "harness" {
                    offenders.push(format!("xtask/src/{}:{}", file.display(), reference.line));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "release code imports the test harness (move what it needs out of harness/, or the test into it):\n{}",
        offenders.join("\n")
    );
}

/// The modules a source names, as `(line, module, test)`.
fn named(source: &str, module: &[&str]) -> Vec<(usize, String, bool)> {
    scan(source, module).references.into_iter().map(|r| (r.line, r.module, r.test)).collect()
}

#[test]
fn the_import_check_sees_every_way_of_naming_the_harness() {
    let source =
        "use crate::harness::e2e::Lab;\n// crate::harness in a comment\nlet x = crate::harness::bench::run();\n";
    let harness =
        |source: &str, module: &[&str]| named(source, module).into_iter().filter(|r| r.1 == "harness").count();
    assert_eq!(harness(source, &["smoke"]), 2);
    assert_eq!(harness("use super::harness::e2e;", &["smoke"]), 1);
    assert_eq!(harness("use super::super::harness::e2e;", &["smoke", "tests"]), 1);
    assert_eq!(harness("use crate::{core::ui::Ui, harness};", &["smoke"]), 1);
    assert_eq!(harness("use crate::core::ui::Ui;", &["smoke"]), 0);
}

#[test]
fn the_reference_check_sees_every_way_of_naming_another_folder() {
    let source = r##"//! crate::harness in a doc comment
use crate::release::plan;
/* crate::harness in /* a nested */ block crate::harness comment */
use crate::{core::ui::Ui, platform::{archive, burrito::{self, output}}, channel};
let s = "crate::harness in a string \" crate::harness";
let r = r#"crate::harness in a raw string"#; let b = b"crate::harness";
let c = '"'; let e = '\''; fn f<'a>(x: &'a str) -> &'static str { x }
let far = super::super::super::drive::procs::signal;
pub(crate) fn g() { super::sibling::h(); self::local(); }
mod inner {
    use super::super::super::super::smoke::run;
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::tree;
}
#[cfg(all(test, unix))]
use crate::smoke::doubles;
#[cfg(not(test))]
use crate::cli::Cli;
#[cfg(all(test, unix))]
mod fixture;
#[cfg(unix)]
mod production;
macro_rules! m { () => { $crate::core::ui::Ui } }
use super::*;
"##;
    let found = named(source, &["platform", "linux", "deb"]);
    let expect = |list: &[(usize, &str, bool)]| {
        list.iter().map(|(line, module, test)| (*line, (*module).to_owned(), *test)).collect::<Vec<_>>()
    };
    assert_eq!(
        found,
        expect(&[
            (2, "release", false),
            (4, "core", false),
            (4, "platform", false),
            (4, "channel", false),
            (8, "drive", false),
            (9, "platform", false),
            (9, "platform", false),
            (11, "smoke", false),
            (15, "platform", true),
            (16, "channel", true),
            (19, "smoke", true),
            (21, "cli", false),
            (26, "core", false),
            (27, "platform", false),
        ])
    );
    assert_eq!(scan(source, &["platform", "linux", "deb"]).test_modules, ["fixture"]);
    // From a folder's own mod.rs, `super` is the crate root: a glob of it
    // hides every arrow, so it is a reference of its own.
    assert_eq!(named("use super::*;", &["core"]), expect(&[(1, "*", false)]));
    assert_eq!(named("#![cfg(test)]\nuse crate::drive::gui;", &["smoke"]), expect(&[(2, "drive", true)]));
}

#[test]
fn the_table_is_read_from_the_doc() {
    let doc = "# X\n\n### `xtask/src/` by role\n\n| folder | holds | may use |\n| --- | --- | --- |\n\
               | `main.rs`, `cli.rs` | dispatch | everything |\n| `core/` | a, b | — |\n\
               | `smoke/` | c | `core`, `drive` (tests: `platform`) |\n| `harness/` | d | anything |\n\nAfter.\n";
    let only = |always: &[&str], in_tests: &[&str]| MayUse::Only {
        always: always.iter().map(|s| (*s).to_owned()).collect(),
        in_tests: in_tests.iter().map(|s| (*s).to_owned()).collect(),
    };
    let table = architecture_table(doc).unwrap();
    assert_eq!(table.len(), 4);
    assert_eq!(table[0], Role { entries: vec!["main.rs".into(), "cli.rs".into()], may_use: MayUse::Everything });
    assert_eq!(table[1].may_use, only(&[], &[]));
    assert_eq!(table[2].may_use, only(&["core", "drive"], &["platform"]));
    assert_eq!(table[3].may_use, MayUse::Everything);
    assert!(architecture_table("# X\n").unwrap_err().contains("no heading"));
    assert!(architecture_table("### `xtask/src/` by role\n\ntext\n").unwrap_err().contains("no table"));
    let unreadable = "### `xtask/src/` by role\n\n| f | h | m |\n| - | - | - |\n| `core/` | x | ask me |\n";
    assert!(architecture_table(unreadable).unwrap_err().contains("cannot read"));
}

#[test]
fn every_file_says_what_it_holds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let missing: Vec<String> = rust_files(&src)
        .into_iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a module doc (`//!` first line): {missing:?}");
}

/// The shell's test-only features — the startup benchmark's polling switch
/// (`bench-baseline`) and the forced panic (`test-hooks`) — are never built
/// by `dist`: not default features, not in any step's command (the binaries
/// that need them are `required-features`).
#[test]
fn the_shipping_shell_has_no_test_switch() {
    const TEST_FEATURES: [&str; 2] = ["bench-baseline", "test-hooks"];
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().unwrap();
    let config = crate::core::config::Config::load().unwrap();
    let shell = metadata.packages.iter().find(|p| p.name.as_str() == config.shell_package).unwrap();
    let defaults = shell.features.get("default").cloned().unwrap_or_default();
    for feature in TEST_FEATURES {
        assert!(shell.features.contains_key(feature), "the shell's feature {feature} is gone: update this test");
        assert!(!defaults.iter().any(|f| f == feature), "{feature} is a default feature: {defaults:?}");
    }
    for target in crate::core::target::TARGETS {
        let plan = crate::release::plan::plan(&config, target);
        let commands: Vec<&String> = plan.steps.iter().flat_map(|step| &step.commands).collect();
        assert!(
            !commands.iter().any(|c| TEST_FEATURES.iter().any(|f| c.contains(f)) || c.contains("--all-features")),
            "dist for {} builds a test build of the shell: {commands:?}",
            target.triple
        );
    }
}

/// Each test hook the shell reads is read only where its feature is
/// compiled in: the line after `#[cfg(feature = "…")]` in the shell's code.
#[test]
fn the_shells_test_hooks_are_behind_their_features() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src-tauri/src");
    let hooks = [("ENV_TEST_PANIC", "test-hooks"), ("ENV_BENCH_READINESS", "bench-baseline")];
    let mut reads = 0;
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            for (hook, feature) in hooks {
                if !line.contains(&format!("std::env::var(hooks::{hook})")) {
                    continue;
                }
                reads += 1;
                let gate = format!("#[cfg(feature = \"{feature}\")]");
                assert!(
                    index > 0 && lines[index - 1].trim() == gate,
                    "{}:{}: reads {hook} without {gate} on the line before",
                    file.display(),
                    index + 1
                );
            }
        }
    }
    assert_eq!(reads, hooks.len(), "each hook is read once in the shell; found {reads} reads: update this test");
}

/// The Markdown a reader follows links through: `README.md` and every
/// `docs/**/*.md`.
fn markdown_docs(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut files);
    files.sort();
    files
}

/// The lines of `markdown` outside fenced code blocks (``` or ~~~), with
/// their 1-based numbers; the fences themselves are left out too.
fn prose_lines(markdown: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 => fence = Some((m, run)),
            (Some((m, n)), Some(c)) if c == m && run >= n && trimmed[run..].trim().is_empty() => fence = None,
            (None, _) => lines.push((index + 1, line)),
            _ => {}
        }
    }
    lines
}

/// `text` without its inline code spans (`` `…` ``, ``` ``…`` ```); an
/// unmatched backtick stays, as in CommonMark.
fn without_code_spans(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + run..];
        match after.find(&rest[start..start + run]) {
            Some(end) => rest = &after[end + run..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The target of every inline link `[text](target)` (and image) in `text`,
/// without its title or angle brackets.
fn links_in(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                ')' => depth -= 1,
                '\n' => break,
                _ => {}
            }
        }
        match end {
            Some(end) => {
                let target = after[..end].split_whitespace().next().unwrap_or("");
                links.push(target.trim_start_matches('<').trim_end_matches('>').to_owned());
                rest = &after[end + 1..];
            }
            None => rest = after,
        }
    }
    links
}

/// Every link target of `markdown` outside code (fenced blocks and inline
/// spans), paragraph by paragraph so that a link or code span may wrap.
fn markdown_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut paragraph = String::new();
    let mut last = 0;
    for (number, line) in prose_lines(markdown) {
        if line.trim().is_empty() || number != last + 1 {
            links.extend(links_in(&without_code_spans(&paragraph)));
            paragraph.clear();
        }
        paragraph.push_str(line);
        paragraph.push('\n');
        last = number;
    }
    links.extend(links_in(&without_code_spans(&paragraph)));
    links
}

/// GitHub's anchor for a heading: link targets dropped, lower case, spaces
/// to `-`, every other character but letters, digits, `-` and `_` dropped.
fn github_slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at]);
        rest = rest[at..].find(')').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of `markdown`'s ATX headings (`#` … `######`, outside
/// fenced code), a repeated one numbered as GitHub does (`-1`, `-2`, …).
fn heading_anchors(markdown: &str) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut anchors = std::collections::BTreeSet::new();
    for (_, line) in prose_lines(markdown) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let text = &trimmed[level..];
        if !(1..=6).contains(&level) || !(text.is_empty() || text.starts_with(' ')) {
            continue;
        }
        let slug = github_slug(text.trim().trim_end_matches('#'));
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 { slug } else { format!("{slug}-{count}") });
        *count += 1;
    }
    anchors
}

#[test]
fn the_link_check_sees_links_and_skips_code() {
    let doc = "# Title\n\nSee [a](docs/a.md), [b](b.md#part \"a title\") and ![img](<i.png>).\n\
               A [link split\nover lines](c.md), [web](https://e.org) and [here](#title).\n\
               Not `[code](nope1.md)`, not ``[x](nope2.md)``, not `wrapped\n[code](nope3.md)`.\n\n\
               ```md\n[fenced](nope4.md)\n# Not a heading\n```\n\n~~~\n[tilde](nope5.md)\n~~~\n\
               ## `dist` and *more*: (x)\n## Title\n";
    assert_eq!(markdown_links(doc), ["docs/a.md", "b.md#part", "i.png", "c.md", "https://e.org", "#title"]);
    let anchors = heading_anchors(doc);
    let expected: std::collections::BTreeSet<String> =
        ["title", "dist-and-more-x", "title-1"].into_iter().map(str::to_owned).collect();
    assert_eq!(anchors, expected);
    assert_eq!(github_slug("The report (`smoke-report.json`)"), "the-report-smoke-reportjson");
    assert_eq!(github_slug("Changing a channel's key"), "changing-a-channels-key");
    assert_eq!(github_slug("[Linked](x.md) `xtask/src/` by role"), "linked-xtasksrc-by-role");
}

/// Every relative link of the README and `docs/` leads to a file that
/// exists, and a `#fragment` into Markdown to a heading that exists.
#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_docs(root) {
        let name = file.strip_prefix(root).unwrap().display().to_string();
        for target in markdown_links(&std::fs::read_to_string(&file).unwrap()) {
            let lower = target.to_ascii_lowercase();
            if ["http:", "https:", "mailto:"].iter().any(|scheme| lower.starts_with(scheme)) {
                continue;
            }
            checked += 1;
            let (path, fragment) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            if !resolved.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
            } else if !fragment.is_empty()
                && resolved.extension().is_some_and(|e| e == "md")
                && !heading_anchors(&std::fs::read_to_string(&resolved).unwrap()).contains(fragment)
            {
                broken.push(format!("{name}: {target} (no heading with that anchor)"));
            }
        }
    }
    assert!(checked > 0, "no relative link found in README.md and docs/: is the link extractor broken?");
    assert!(broken.is_empty(), "links in the docs that lead nowhere:\n{}", broken.join("\n"));
}
