//! The secure-storage channel against a backend double (`/bin/sh`): framed
//! stdout lines reach the handler and its answers come back on stdin, with
//! their ids; log lines stay output; malformed, oversized and cut-off
//! requests get a clear error (or none, for a backend that is gone), and
//! the channel keeps answering.
#![cfg(unix)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::channel::{Handler, Storage};
use hudson_lifecycle::contract::storage::{ErrorCode, Op, Request, Response};
use hudson_lifecycle::event::{Event, Stream};
use hudson_lifecycle::process::{Process, ProcessSpec};

#[derive(Default, Clone)]
struct Recorder {
    requests: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl Handler for Recorder {
    fn handle(&self, request: Request) -> Response {
        self.requests.lock().unwrap().push(format!("{:?} {}", request.op, request.key));
        match request.op {
            Op::Get => Response::ok(request.id, Some(format!("value-of-{}", request.key))),
            _ => Response::ok(request.id, None),
        }
    }

    fn refused(&self, answer: &Response) {
        self.refused.lock().unwrap().push(answer.error.as_ref().unwrap().message.clone());
    }
}

/// Runs `script` with a recording handler; returns its output lines (by
/// stream) once it exits.
fn run(script: &str, recorder: &Recorder) -> (Vec<String>, Vec<String>) {
    let spec = ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: None,
        env: Vec::new(),
        storage: Some(Storage::new(recorder.clone())),
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let _process = Process::spawn(&spec, tx).unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("the double did not exit") {
            Event::Output(Stream::Stdout, line) => stdout.push(line),
            Event::Output(Stream::Stderr, line) => stderr.push(line),
            Event::Exited(_) => return (stdout, stderr),
            Event::HandshakeTouched => {}
        }
    }
}

#[test]
fn frames_are_answered_by_id_and_bad_ones_refused_while_logs_stay_output() {
    // Five requests (two good, three bad, one of them 500 KB), then the
    // five answers copied from stdin to stderr for the test to read.
    let script = r#"
        printf 'a log line with {"id":1} in it\n'
        printf '\036{"id":1,"op":"get","key":"openai_api_key"}\n'
        printf '\036not json\n'
        printf '\036{"id":2,"op":"put","key":"k"}\n'
        printf '\036'; head -c 500000 /dev/zero | tr '\0' a; printf '\n'
        printf '\036{"id":3,"op":"delete","key":"k"}\n'
        i=0; while [ $i -lt 5 ]; do IFS= read -r line; printf '%s\n' "$line" | tr -d '\036' >&2; i=$((i+1)); done
    "#;
    let recorder = Recorder::default();
    let (stdout, stderr) = run(script, &recorder);
    assert_eq!(stdout, ["a log line with {\"id\":1} in it"], "frames leaked into the output");
    assert_eq!(*recorder.requests.lock().unwrap(), ["Get openai_api_key", "Delete k"]);
    let answers: Vec<Response> = stderr.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<_> = answers.iter().map(|a| (a.id, a.ok, a.error.as_ref().map(|e| e.code))).collect();
    assert_eq!(
        summary,
        [
            (Some(1), true, None),
            (None, false, Some(ErrorCode::Malformed)),
            (Some(2), false, Some(ErrorCode::Malformed)),
            (None, false, Some(ErrorCode::Malformed)),
            (Some(3), true, None),
        ]
    );
    assert_eq!(answers[0].value.as_deref(), Some("value-of-openai_api_key"));
    let refused = recorder.refused.lock().unwrap();
    assert!(refused[2].contains("longer than"), "{refused:?}");
}

#[test]
fn a_request_cut_off_by_the_backend_exiting_is_dropped() {
    let recorder = Recorder::default();
    let (stdout, _) = run(r#"printf '\036{"id":9,"op":"get","key":"k"'"#, &recorder);
    assert!(stdout.is_empty(), "{stdout:?}");
    assert!(recorder.requests.lock().unwrap().is_empty());
    assert!(recorder.refused.lock().unwrap().is_empty());
}

#[test]
fn the_rest_of_a_cut_output_line_is_never_a_frame() {
    // An output line exactly as long as the reader's limit, then a frame
    // mark in the same line: the mark is output, not a request.
    let limit = hudson_lifecycle::contract::storage::MAX_FRAME_BYTES + 2;
    let script =
        format!(r#"head -c {limit} /dev/zero | tr '\0' a; printf '\036{{"id":5,"op":"get","key":"k"}}\n'; exit 0"#);
    let recorder = Recorder::default();
    let (stdout, _) = run(&script, &recorder);
    assert!(recorder.requests.lock().unwrap().is_empty(), "a cut line's rest was taken for a request");
    assert!(stdout.iter().any(|l| l.contains("\"id\":5")), "the rest of the line was not output");
}
