//! Running external commands. Output is streamed line by line to the step's
//! progress display and kept as a tail; a failure reports the command line and
//! that tail, so nobody has to rerun a 6-minute build to see why it failed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use anyhow::{Context, Result, bail};

use crate::core::ui::Step;

const TAIL_LINES: usize = 40;

/// Runs `cmd` to completion, showing its latest output line as progress.
pub fn run(cmd: xshell::Cmd<'_>, step: &Step) -> Result<()> {
    let shown = cmd.to_string();
    let mut command: Command = cmd.into();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command.spawn().map_err(|e| spawn_error(&program, &shown, e))?;

    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ]
    .into_iter()
    .map(|pipe| {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end().to_owned();
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);

    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    for line in rx {
        if !line.trim().is_empty() {
            step.progress(line.trim());
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().with_context(|| format!("waiting for `{shown}`"))?;
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().collect();
        bail!("`{shown}` failed ({status}). Last lines of its output:\n{}", indent(&tail.join("\n")));
    }
    Ok(())
}

/// Runs a short command and returns its trimmed stdout, or `None` when the
/// program is missing or fails (used to probe tool versions).
pub fn probe(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
    Some(String::from_utf8_lossy(&text).trim().to_owned())
}

fn spawn_error(program: &str, shown: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == ErrorKind::NotFound {
        anyhow::anyhow!(
            "`{program}` is not installed (needed for `{shown}`). Run `cargo xtask doctor --install` to install the prerequisites."
        )
    } else {
        anyhow::anyhow!("could not start `{shown}`: {e}")
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ui::{Format, Ui};

    #[test]
    fn a_missing_tool_names_the_doctor() {
        let sh = xshell::Shell::new().unwrap();
        let ui = Ui::new(Format::Text);
        let step = ui.step("test", "missing tool");
        let e = run(xshell::cmd!(sh, "hudson-no-such-mix release"), &step).unwrap_err().to_string();
        assert!(e.contains("`hudson-no-such-mix` is not installed"), "{e}");
        assert!(e.contains("cargo xtask doctor --install"), "{e}");
    }

    #[test]
    fn a_failed_command_reports_its_line_and_output_tail() {
        let sh = xshell::Shell::new().unwrap();
        let ui = Ui::new(Format::Text);
        let step = ui.step("test", "failing tool");
        let script = "for i in $(seq 1 100); do echo line$i; done; echo boom >&2; exit 3";
        let e = run(xshell::cmd!(sh, "sh -c {script}"), &step).unwrap_err().to_string();
        assert!(e.contains("sh -c"), "names the command line: {e}");
        assert!(e.contains("line100") && e.contains("boom"), "shows the tail: {e}");
        assert!(!e.contains("line50\n"), "only the tail: {e}");
        assert!(e.contains("exit status: 3"), "{e}");
    }
}
