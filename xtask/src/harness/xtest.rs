//! Acting on the shell's windows as a user and a window manager would,
//! through Xlib and the XTEST extension: typing keys into a window, asking it
//! to close, waiting for it to be shown. Harness only.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Runs `work` with Xlib, an open connection to `display` and the top-level
/// window of process `pid` titled `title` (found by `_NET_WM_PID` and its
/// name); the connection is closed afterwards.
fn with_window<T>(
    display: &str,
    pid: u32,
    title: &str,
    work: impl FnOnce(&x11_dl::xlib::Xlib, *mut x11_dl::xlib::Display, x11_dl::xlib::Window) -> Result<T>,
) -> Result<T> {
    use std::ffi::{CStr, CString};
    use std::os::raw::{c_int, c_uchar, c_uint, c_ulong};

    use x11_dl::xlib;

    let x = xlib::Xlib::open().context("cannot load libX11")?;
    let name = CString::new(display)?;
    // SAFETY: plain Xlib calls on a display this function opens and closes;
    // every pointer passed is valid for the call, every returned buffer is
    // freed with XFree.
    unsafe {
        let dpy = (x.XOpenDisplay)(name.as_ptr());
        if dpy.is_null() {
            bail!("cannot open X display {display}");
        }
        let net_wm_pid = {
            let n = CString::new("_NET_WM_PID").expect("no NUL");
            (x.XInternAtom)(dpy, n.as_ptr(), xlib::False)
        };
        let root = (x.XDefaultRootWindow)(dpy);
        let (mut root_ret, mut parent_ret) = (0, 0);
        let mut children: *mut xlib::Window = std::ptr::null_mut();
        let mut count: c_uint = 0;
        (x.XQueryTree)(dpy, root, &mut root_ret, &mut parent_ret, &mut children, &mut count);
        let windows: Vec<xlib::Window> =
            if children.is_null() { Vec::new() } else { std::slice::from_raw_parts(children, count as usize).to_vec() };
        if !children.is_null() {
            (x.XFree)(children.cast());
        }
        let mut target = None;
        for window in windows {
            let (mut kind, mut format, mut items, mut after) = (0, 0 as c_int, 0 as c_ulong, 0 as c_ulong);
            let mut data: *mut c_uchar = std::ptr::null_mut();
            let ok = (x.XGetWindowProperty)(
                dpy,
                window,
                net_wm_pid,
                0,
                1,
                xlib::False,
                xlib::XA_CARDINAL,
                &mut kind,
                &mut format,
                &mut items,
                &mut after,
                &mut data,
            );
            let owner =
                if ok == 0 && !data.is_null() && items == 1 { Some(*(data as *const c_ulong) as u32) } else { None };
            if !data.is_null() {
                (x.XFree)(data.cast());
            }
            if owner != Some(pid) {
                continue;
            }
            let mut window_name: *mut std::os::raw::c_char = std::ptr::null_mut();
            if (x.XFetchName)(dpy, window, &mut window_name) != 0 && !window_name.is_null() {
                let matches = CStr::from_ptr(window_name).to_string_lossy() == title;
                (x.XFree)(window_name.cast());
                if matches {
                    target = Some(window);
                    break;
                }
            }
        }
        let result = match target {
            Some(window) => work(&x, dpy, window),
            None => Err(anyhow::anyhow!("no window titled {title:?} of pid {pid} on {display}")),
        };
        (x.XCloseDisplay)(dpy);
        result
    }
}

/// Asks the top-level window of process `pid` titled `title` on `display`
/// to close, the way a window manager's close button does: a
/// `WM_PROTOCOLS`/`WM_DELETE_WINDOW` client message (WebDriver cannot close
/// a window the app made itself).
pub fn request_window_close(display: &str, pid: u32, title: &str) -> Result<()> {
    use x11_dl::xlib;
    with_window(display, pid, title, |x, dpy, window| {
        // SAFETY: Xlib calls on the open connection `with_window` holds.
        unsafe {
            let atom = |n: &str| {
                let n = std::ffi::CString::new(n).expect("atom names have no NUL");
                (x.XInternAtom)(dpy, n.as_ptr(), xlib::False)
            };
            let mut event: xlib::XEvent = std::mem::zeroed();
            event.client_message.type_ = xlib::ClientMessage;
            event.client_message.window = window;
            event.client_message.message_type = atom("WM_PROTOCOLS");
            event.client_message.format = 32;
            event.client_message.data.set_long(0, atom("WM_DELETE_WINDOW") as std::os::raw::c_long);
            event.client_message.data.set_long(1, xlib::CurrentTime as std::os::raw::c_long);
            (x.XSendEvent)(dpy, window, xlib::False, xlib::NoEventMask, &mut event);
            (x.XFlush)(dpy);
        }
        Ok(())
    })
}

/// Gives the top-level window of process `pid` titled `title` the keyboard
/// focus and types `keys` into it through the XTEST extension, as a user's
/// keyboard would: real key events that GTK handles like any other (its
/// menu bar, its menus, its dialogs). A key is an X keysym name (`F10`,
/// `Up`, `Return`, `a`, `slash`), optionally after modifiers joined by `+`
/// (`Control_L+a`); a keysym on a key's shifted level (`A`, `underscore`)
/// is typed with Shift held. A short pause after each key lets menus open.
pub fn type_keys<K: AsRef<str>>(display: &str, pid: u32, title: &str, keys: &[K]) -> Result<()> {
    use x11_dl::xlib;
    // x11-dl names its XTEST binding after a neighbouring extension.
    let xtest = x11_dl::xtest::Xf86vmode::open().context("cannot load libXtst (package libxtst6)")?;
    with_window(display, pid, title, |x, dpy, window| {
        // SAFETY: Xlib and XTEST calls on the open connection `with_window`
        // holds; the keysym names are NUL-free CStrings alive for the call.
        unsafe {
            let code_of = |name: &str| -> Result<(u8, bool)> {
                let cname = std::ffi::CString::new(name)?;
                let keysym = (x.XStringToKeysym)(cname.as_ptr());
                ensure!(keysym != 0, "{name:?} is not an X keysym name");
                let code = (x.XKeysymToKeycode)(dpy, keysym);
                ensure!(code != 0, "the X server has no key for {name:?}");
                let shifted = (x.XKeycodeToKeysym)(dpy, code, 0) != keysym;
                Ok((code, shifted))
            };
            let press = |code: u8, down: bool| {
                (xtest.XTestFakeKeyEvent)(
                    dpy,
                    code.into(),
                    if down { xlib::True } else { xlib::False },
                    xlib::CurrentTime,
                );
            };
            let shift = code_of("Shift_L")?.0;
            (x.XRaiseWindow)(dpy, window);
            (x.XSetInputFocus)(dpy, window, xlib::RevertToParent, xlib::CurrentTime);
            (x.XSync)(dpy, xlib::False);
            std::thread::sleep(Duration::from_millis(300));
            for key in keys {
                let key = key.as_ref();
                let mut parts: Vec<&str> = key.split('+').collect();
                let last = parts.pop().filter(|k| !k.is_empty()).unwrap_or("plus");
                let modifiers = parts.iter().map(|m| code_of(m).map(|c| c.0)).collect::<Result<Vec<_>>>()?;
                let (code, shifted) = code_of(last)?;
                let held: Vec<u8> = modifiers.into_iter().chain(shifted.then_some(shift)).collect();
                held.iter().for_each(|&m| press(m, true));
                press(code, true);
                press(code, false);
                held.iter().rev().for_each(|&m| press(m, false));
                (x.XSync)(dpy, xlib::False);
                std::thread::sleep(Duration::from_millis(if key.len() == 1 { 40 } else { 400 }));
            }
        }
        Ok(())
    })
}

/// The keysym names that type `text` (letters, digits and `/._-`), for
/// [`type_keys`].
pub fn keys_for_text(text: &str) -> Result<Vec<String>> {
    const NAMES: &[(char, &str)] = &[('/', "slash"), ('.', "period"), ('-', "minus"), ('_', "underscore")];
    text.chars()
        .map(|c| match NAMES.iter().find(|(n, _)| *n == c) {
            // A letter's or digit's keysym name is the character itself.
            _ if c.is_ascii_alphanumeric() => Ok(c.to_string()),
            Some((_, name)) => Ok((*name).to_owned()),
            None => bail!("cannot type {c:?} into a window"),
        })
        .collect()
}

/// Waits up to `timeout` for a top-level window of process `pid` titled
/// `title` on `display` (a dialog the app opens on its own).
pub fn wait_for_window(display: &str, pid: u32, title: &str, timeout: Duration) -> Result<()> {
    // Shown, not only created: GTK names a window before it maps it, and
    // focusing an unmapped window is an X error.
    let mut last = None;
    let shown = crate::core::wait::until(timeout, Duration::from_millis(200), || {
        let shown = |x: &x11_dl::xlib::Xlib, dpy, window| {
            // SAFETY: `dpy` and `window` come from `with_window`, open for
            // this call; the attributes are written into a local.
            let state = unsafe {
                let mut attributes: x11_dl::xlib::XWindowAttributes = std::mem::zeroed();
                (x.XGetWindowAttributes)(dpy, window, &mut attributes);
                attributes.map_state
            };
            ensure!(state == x11_dl::xlib::IsViewable, "window {title:?} is not shown yet");
            Ok(())
        };
        match with_window(display, pid, title, shown) {
            Ok(()) => Some(()),
            Err(error) => {
                last = Some(error);
                None
            }
        }
    });
    match (shown, last) {
        (Some(()), _) => Ok(()),
        (None, Some(error)) => Err(error.context(format!("no window {title:?} after {timeout:?}"))),
        (None, None) => anyhow::bail!("no window {title:?} after {timeout:?}"),
    }
}
