fn main() {
    // Declaring the app's commands makes Tauri check them against the
    // capabilities like plugin commands: only the shell's own pages are
    // granted them (capabilities/local-pages.json), the backend origin none.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "restart_backend",
        "open_logs_folder",
        "check_for_updates",
        "update_status",
        "restart_to_update",
        "dismiss_update_notice",
        "diagnostics",
        "diagnostics_text",
        "set_crash_upload",
        "export_support_bundle",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)).expect("tauri-build runs");
}
