//! Spawning the backend so that it cannot outlive the shell, and ending it.
//!
//! Three independent guards, because no single one covers every way a shell
//! dies (`cargo xtask e2e`'s random-SIGKILL loop checks that together they leave nothing;
//! `PR_SET_PDEATHSIG`: prctl(2), https://man7.org/linux/man-pages/man2/prctl.2.html;
//! `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`:
//! https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-jobobject_basic_limit_information):
//! - the backend's stdin is a pipe whose write end only the shell holds; the
//!   contract makes the backend exit when it closes, which the kernel does
//!   even when the shell is SIGKILLed;
//! - Linux: `PR_SET_PDEATHSIG` sends SIGKILL when the spawning thread dies.
//!   Not SIGTERM: the BEAM drops a SIGTERM that arrives while it boots and
//!   then never stops, not even on the stdin EOF that arrives with it
//!   (measured with the reference release: SIGTERM 0.2–1.0 s after start
//!   left the VM running and serving every time; the random-SIGKILL loop of
//!   `cargo xtask e2e` found such orphans). A backend whose shell is gone
//!   has nobody left to serve, so the hard stop costs nothing;
//! - Windows: a job object with `KILL_ON_JOB_CLOSE` ends the whole tree when
//!   the shell's last handle to it closes (`tests/portable.rs`, under
//!   Wine). The backend is created suspended and joins the job before it
//!   runs, so no process it starts escapes (an ordering no test observes: a
//!   process takes far longer to start a child than the shell to assign it).
//!
//! The child leads its own process group, so shutdown can reach grandchildren
//! (such as `erl_child_setup`) too.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;

use crossbeam_channel::Sender;

use crate::channel::{Frame, Stdin, Storage};
use crate::contract::storage::{FRAME_MARK, MAX_FRAME_BYTES};
use crate::event::{Event, Exit, Stream};

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(OsString, OsString)>,
    /// Answers the backend's secure-storage requests (framed lines on its
    /// stdout; `contract::storage`). `None`: such lines are output.
    pub storage: Option<Storage>,
}

/// A running backend process. Dropping it closes the backend's stdin, which
/// the contract makes it exit; [`crate::Backend::shutdown`] bounds the wait.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    stdin: Stdin,
    #[cfg(windows)]
    job: job::Job,
}

/// Longest output line kept; longer lines are cut (a runaway line must not
/// exhaust memory).
const MAX_LINE: usize = 16 * 1024;

impl Process {
    /// Starts the process with piped stdio. Output lines and the exit status
    /// arrive on `events`. On Linux the parent-death signal is tied to the
    /// calling thread: call this from a thread that lives as long as the
    /// backend should.
    pub fn spawn(spec: &ProcessSpec, events: Sender<Event>) -> io::Result<Process> {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        // Only this spec turns the storage channel (and the backend's
        // storage test hook) on, never a variable the shell inherited: a
        // backend that believed it had a channel would print its frames,
        // values included, as output.
        for inherited in [crate::contract::storage::ENV_SECURE_STORAGE, crate::contract::storage::ENV_STORAGE_SELFTEST]
        {
            cmd.env_remove(inherited);
        }
        for (key, value) in &spec.env {
            cmd.env(key, value);
        }
        platform_setup(&mut cmd);

        // Made before the spawn: a backend created suspended must never be
        // left so because the job could not be made.
        #[cfg(windows)]
        let job = job::Job::new()?;
        let mut child = cmd.spawn()?;
        // It was created suspended: it joins the job before it runs, so
        // nothing it starts can be outside the job.
        #[cfg(windows)]
        if let Err(e) = job.assign(&child).and_then(|()| job::resume(child.id())) {
            let _ = child.kill();
            return Err(e);
        }
        let pid = child.id();
        let stdin = Stdin::new(child.stdin.take());
        let frames = spec.storage.clone().map(|storage| {
            // Bounded (a frame may be 385 KiB): a backend that floods
            // requests waits for answers.
            let (tx, rx) = crossbeam_channel::bounded(4);
            crate::channel::serve(storage, rx, stdin.clone());
            tx
        });
        let (drained, readers_done) = crossbeam_channel::bounded(2);
        let stdout = child.stdout.take().expect("stdout is piped");
        forward_lines(stdout, Stream::Stdout, events.clone(), drained.clone(), frames);
        forward_lines(child.stderr.take().expect("stderr is piped"), Stream::Stderr, events.clone(), drained, None);
        wait_in_background(child, events, readers_done);
        Ok(Process {
            pid,
            stdin,
            #[cfg(windows)]
            job,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Closes the write end of the backend's stdin: the contract's signal to
    /// stop.
    pub fn close_stdin(&mut self) {
        self.stdin.close();
    }

    /// Asks the whole process group to stop (SIGTERM). Windows has no
    /// equivalent; there closing stdin is the polite request.
    pub fn request_stop(&self) {
        #[cfg(unix)]
        signal_group(self.pid, libc::SIGTERM);
    }

    /// Ends the process and everything it started, now.
    pub fn kill(&self) {
        #[cfg(unix)]
        signal_group(self.pid, libc::SIGKILL);
        #[cfg(windows)]
        self.job.terminate();
    }
}

#[cfg(unix)]
fn signal_group(pid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill has no memory-safety preconditions; a negative pid
    // addresses the process group the child leads. ESRCH (group gone) is fine.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

#[cfg(unix)]
fn platform_setup(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure only calls async-signal-safe functions.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The shell died between fork and prctl: nobody will ever
                // send the signal, so do not start at all.
                if libc::getppid() != parent {
                    return Err(io::Error::other("the shell exited while starting the backend"));
                }
                Ok(())
            });
        }
    }
}

#[cfg(windows)]
fn platform_setup(cmd: &mut Command) {
    use std::os::windows::process::CommandExt;
    // No console window flashes up for the backend.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    // Not a single instruction runs before `spawn` put it in the job: a
    // child it started at once would otherwise escape the job's kill.
    const CREATE_SUSPENDED: u32 = 0x0000_0004;
    cmd.creation_flags(CREATE_NO_WINDOW | CREATE_SUSPENDED);
}

/// Forwards `pipe`'s lines as output events; with `frames`, lines that
/// start with the storage mark go there instead and are never output.
fn forward_lines(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    events: Sender<Event>,
    drained: Sender<()>,
    frames: Option<Sender<Frame>>,
) {
    thread::Builder::new()
        .name(format!("backend-{stream:?}").to_lowercase())
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            // A frame may be longer than an output line.
            let limit = if frames.is_some() { MAX_FRAME_BYTES + 2 } else { MAX_LINE };
            // The rest of a line cut at `limit` is never a frame.
            let mut continuation = false;
            loop {
                buf.clear();
                match reader.by_ref().take(limit as u64).read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        let complete = buf.last() == Some(&b'\n');
                        let starts_line = !continuation;
                        continuation = !complete;
                        while matches!(buf.last(), Some(b'\n' | b'\r')) {
                            buf.pop();
                        }
                        if let Some(frames) = &frames
                            && starts_line
                            && buf.first() == Some(&FRAME_MARK)
                        {
                            let frame = if complete {
                                Frame::Line(buf[1..].to_vec())
                            } else if read < limit {
                                // Cut off by the backend's exit mid-request.
                                break;
                            } else {
                                skip_line(&mut reader);
                                continuation = false;
                                Frame::Oversized
                            };
                            if frames.send(frame).is_err() {
                                break;
                            }
                            continue;
                        }
                        buf.truncate(MAX_LINE);
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if events.send(Event::Output(stream, line)).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = drained.send(());
        })
        .expect("spawn an output reader thread");
}

/// Reads and drops the rest of an oversized line.
fn skip_line(reader: &mut impl BufRead) {
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(_) if chunk.last() == Some(&b'\n') => return,
            Ok(_) => {}
        }
    }
}

impl Drop for Process {
    /// The contract's stop signal, however the process handle goes away.
    fn drop(&mut self) {
        self.stdin.close();
    }
}

/// Longest wait, after the backend exited, for its last output lines: a
/// grandchild that still holds the pipes must not delay the exit event.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

fn wait_in_background(mut child: Child, events: Sender<Event>, readers_done: crossbeam_channel::Receiver<()>) {
    thread::Builder::new()
        .name("backend-wait".into())
        .spawn(move || {
            let status: io::Result<ExitStatus> = child.wait();
            // The last lines (the reason for a crash) come before the exit.
            let deadline = std::time::Instant::now() + DRAIN;
            for _ in 0..2 {
                if readers_done.recv_deadline(deadline).is_err() {
                    break;
                }
            }
            let _ = events.send(Event::Exited(status.map(Exit::from).unwrap_or(Exit::Unknown)));
        })
        .expect("spawn the backend waiter thread");
}

#[cfg(windows)]
mod job {
    use std::io;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation, SetInformationJobObject,
        TerminateJobObject,
    };

    /// A job object that kills every process in it when its last handle
    /// closes, which happens when the shell exits in any way.
    #[derive(Debug)]
    pub struct Job(HANDLE);

    // SAFETY: a job handle may be used from any thread.
    unsafe impl Send for Job {}
    // SAFETY: the job APIs used here are thread-safe.
    unsafe impl Sync for Job {}

    impl Job {
        pub fn new() -> io::Result<Job> {
            // SAFETY: null attributes and name are allowed.
            let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
            if handle.is_null() {
                return Err(io::Error::last_os_error());
            }
            let job = Job(handle);
            // SAFETY: an all-zero JOBOBJECT_EXTENDED_LIMIT_INFORMATION is valid.
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            // SAFETY: the pointer and size describe `info`.
            let ok = unsafe {
                SetInformationJobObject(
                    job.0,
                    JobObjectExtendedLimitInformation,
                    &info as *const _ as *const core::ffi::c_void,
                    std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                )
            };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(job)
        }

        pub fn assign(&self, child: &std::process::Child) -> io::Result<()> {
            // SAFETY: both handles are valid for the duration of the call.
            let ok = unsafe { AssignProcessToJobObject(self.0, child.as_raw_handle() as HANDLE) };
            if ok == 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        }

        pub fn terminate(&self) {
            // SAFETY: the handle is valid until drop.
            unsafe {
                TerminateJobObject(self.0, 1);
            }
        }
    }

    /// Lets a process created suspended run: resumes its threads (a new
    /// process has one). std's `Child` keeps no thread handle, so the thread
    /// is found by a snapshot of the system's threads.
    pub fn resume(pid: u32) -> io::Result<()> {
        use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
        use windows_sys::Win32::System::Diagnostics::ToolHelp::{
            CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
        };
        use windows_sys::Win32::System::Threading::{OpenThread, ResumeThread, THREAD_SUSPEND_RESUME};
        // SAFETY: plain Win32 calls; `entry` is sized as the API requires and
        // every handle opened here is closed here.
        unsafe {
            let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
            if snapshot == INVALID_HANDLE_VALUE {
                return Err(io::Error::last_os_error());
            }
            let mut entry: THREADENTRY32 = std::mem::zeroed();
            entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
            let mut resumed = 0;
            let mut more = Thread32First(snapshot, &mut entry);
            while more != 0 {
                if entry.th32OwnerProcessID == pid {
                    let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                    if !thread.is_null() {
                        if ResumeThread(thread) != u32::MAX {
                            resumed += 1;
                        }
                        CloseHandle(thread);
                    }
                }
                more = Thread32Next(snapshot, &mut entry);
            }
            CloseHandle(snapshot);
            if resumed == 0 {
                return Err(io::Error::other(format!(
                    "could not resume the backend (pid {pid}) after it joined its job"
                )));
            }
        }
        Ok(())
    }

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle is owned by this value.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }
}
