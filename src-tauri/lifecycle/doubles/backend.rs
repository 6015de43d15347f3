//! Test double of a Hudson backend, in Rust so that it runs wherever the
//! lifecycle's tests run — Linux, and Windows (under Wine in `cargo xtask
//! test-windows`), where no `/bin/sh` double can. Never shipped: no package
//! bundles it, and only `tests/portable.rs` starts it.
//!
//! It keeps the backend contract (`hudson_lifecycle::contract`): binds
//! `127.0.0.1` on the port `PORT` names (0: any), answers `GET /healthz`,
//! writes the handshake file atomically (temporary file, then rename), and
//! exits when its stdin closes. Its options make it misbehave in the ways the
//! tests are about:
//!
//! - `--child`: starts a child of its own (this program with `--sleeper`)
//!   that never exits by itself and does not read the pipe, like the BEAM's
//!   `erl_child_setup`; only the shell's process-tree guard can end it;
//! - `--linger-ms N`: after stdin closes, takes N ms to finish (a backend
//!   flushing its database);
//! - `--ignore-stdin`: never exits when stdin closes (a hung backend);
//! - `--pids FILE`: writes `backend <pid>` and `child <pid>` lines to FILE
//!   (atomically) once it serves;
//! - `--version V`: the version it reports (default `0.0.0-double`).
//!
//! On Unix it ignores SIGTERM, so that what a test sees is the stdin
//! contract alone (the shell sends both).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hudson_lifecycle::contract::{self, HandshakeDoc};

#[derive(Default)]
struct Options {
    child: bool,
    linger: Duration,
    ignore_stdin: bool,
    pids: Option<PathBuf>,
    version: Option<String>,
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--sleeper") => sleep_forever(),
            Some("--child") => options.child = true,
            Some("--ignore-stdin") => options.ignore_stdin = true,
            Some("--linger-ms") => {
                let ms = args.next().and_then(|v| v.into_string().ok()).and_then(|v| v.parse().ok());
                options.linger = Duration::from_millis(ms.unwrap_or_else(|| fail("--linger-ms takes milliseconds")));
            }
            Some("--pids") => options.pids = Some(args.next().unwrap_or_else(|| fail("--pids takes a file")).into()),
            Some("--version") => {
                options.version = Some(args.next().and_then(|v| v.into_string().ok()).unwrap_or_default())
            }
            _ => fail(&format!("unknown argument {arg:?}")),
        }
    }
    run(options)
}

fn run(options: Options) -> ! {
    ignore_sigterm();
    let version = options.version.unwrap_or_else(|| "0.0.0-double".to_owned());
    let port: u16 = std::env::var(contract::ENV_PORT).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let port = listener.local_addr().expect("a bound socket has an address").port();
    let served_version = version.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let version = served_version.clone();
            std::thread::spawn(move || answer(stream, &version));
        }
    });

    let child = options.child.then(|| {
        let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current_exe: {e}")));
        Command::new(exe)
            .arg("--sleeper")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("starting the child: {e}")))
            .id()
    });
    if let Some(file) = &options.pids {
        let mut text = format!("backend {}\n", std::process::id());
        if let Some(pid) = child {
            text.push_str(&format!("child {pid}\n"));
        }
        write_atomic(file, text.as_bytes());
    }
    let token = std::env::var(contract::ENV_HANDSHAKE_TOKEN).unwrap_or_default();
    if let Some(file) = std::env::var_os(contract::ENV_HANDSHAKE_FILE) {
        let doc = HandshakeDoc { port, token, pid: std::process::id(), version };
        write_atomic(Path::new(&file), &serde_json::to_vec(&doc).expect("a handshake serialises"));
    }
    println!("double: serving on 127.0.0.1:{port}");

    // The contract's stop signal: stdin reaches end of file.
    let mut sink = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut sink);
    println!("double: stdin closed");
    if options.ignore_stdin {
        sleep_forever();
    }
    std::thread::sleep(options.linger);
    println!("double: stopped");
    std::process::exit(0)
}

/// Answers one request: `/healthz` with the contract's JSON, anything else 404.
fn answer(stream: TcpStream, version: &str) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.by_ref().take(8192).read_line(&mut request_line).is_err() {
        return;
    }
    // The headers, up to the blank line.
    let mut line = String::new();
    loop {
        line.clear();
        match reader.by_ref().take(8192).read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let (status, body) = if request_line.starts_with(&format!("GET {} ", contract::HEALTH_PATH)) {
        let doc = contract::HealthDoc {
            status: "ok".into(),
            version: version.into(),
            pid: std::process::id(),
            nifs: Default::default(),
            checks: Default::default(),
            erts: None,
        };
        ("200 OK", serde_json::to_string(&doc).expect("a health document serialises"))
    } else {
        ("404 Not Found", String::new())
    };
    let _ = write!(
        &stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn write_atomic(path: &Path, bytes: &[u8]) {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes).unwrap_or_else(|e| fail(&format!("writing {temporary:?}: {e}")));
    std::fs::rename(&temporary, path).unwrap_or_else(|e| fail(&format!("renaming to {}: {e}", path.display())));
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(unix)]
fn ignore_sigterm() {
    // SAFETY: installing SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn ignore_sigterm() {}

fn fail(message: &str) -> ! {
    eprintln!("hudson-backend-double: {message}");
    std::process::exit(2)
}
