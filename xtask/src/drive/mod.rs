//! Driving real processes and a real WebView: an Xvfb display with
//! tauri-driver in front of WebKitWebDriver (`gui`), the `/proc` process
//! model (`procs`), and a private home for each launch (`home`). Used by
//! `smoke` and by the harness; Unix only.

pub mod gui;
pub mod home;
pub mod procs;
