// The Diagnostics window: asks the shell for its facts every two seconds
// and shows them, the backend's named checks with a green, amber or red
// light; "Copy as text" copies the shell's redacted plain-text report;
// the crash-report switch is off until the user turns it on.
(function () {
  function $(id) { return document.getElementById(id); }
  function text(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "—" : value; }
  function size(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }
  var words = { green: "Everything answers.", amber: "Something is slow or starting.", red: "Something is down." };

  // The crash-report switch: `switching` while the shell saves a change;
  // `generation` counts finished changes, so a report asked for before one
  // finished cannot put the old state back; `switchError` stays shown until
  // the next change.
  var switching = false, generation = 0, switchError = "";

  function render(r, asked) {
    $("indicator").className = "light " + r.indicator;
    $("indicator").setAttribute("aria-label", r.indicator);
    text("summary", words[r.indicator] + (r.health_error ? " " + r.health_error : ""));
    text("shell-version", r.shell_version);
    text("backend", (r.backend_version || "") + " (" + r.backend_state + ")");
    text("erts", r.erts);
    text("os", r.os);
    text("install", r.install_kind + " — " + r.install_path);
    text("restarts", String(r.restarts));
    text("last-crash", r.last_crash);
    text("updates", r.update_status + (r.update_channel ? " (channel " + r.update_channel + ")" : "") +
      (r.last_check ? "; last checked " + r.last_check : "") + (r.next_check ? "; next " + r.next_check : ""));
    text("clock", r.clock_skew);
    text("log-folder", r.log_folder.path + " (" + size(r.log_folder.bytes) + ")");
    text("data-folder", r.data_folder.path + " (" + size(r.data_folder.bytes) + ")");
    text("secure-storage", r.secure_storage);
    text("crashes", r.crash_records.length + (r.crash_records.length ? ": " + r.crash_records.join(", ") : "") +
      (r.crash_dump_bytes !== null ? "; BEAM crash dump " + size(r.crash_dump_bytes) : ""));
    var upload = $("crash-upload");
    if (!switching && asked === generation) {
      upload.checked = r.crash_upload.enabled;
      upload.disabled = !r.crash_upload.configured;
      text("crash-upload-status", switchError || (!r.crash_upload.configured ?
        "Not available in this build: nothing is ever sent." :
        r.crash_upload.enabled ? "On: each crash record is sent once, with secrets masked." :
        "Off: nothing leaves this computer."));
    }
    var table = $("checks");
    table.textContent = "";
    r.checks.forEach(function (c) {
      var row = table.insertRow();
      row.id = "check-" + c.name;
      row.className = "check " + c.status;
      row.insertCell().textContent = c.name;
      row.insertCell().textContent = c.status;
      row.insertCell().textContent = c.detail;
      row.insertCell().textContent = c.latency_ms === null ? "" : c.latency_ms + " ms";
    });
    if (!r.checks.length) {
      table.insertRow().insertCell().textContent = "The backend reports no named checks.";
    }
  }

  function poll() {
    var asked = generation;
    hudson.invoke("diagnostics").then(function (r) { render(r, asked); },
      function (error) { text("summary", String(error)); });
  }

  // The opt-in switch: the shell saves the choice; turning it on sends the
  // crash records not sent yet.
  $("crash-upload").addEventListener("change", function (e) {
    var box = e.target;
    switching = true;
    box.disabled = true;
    switchError = "";
    hudson.invoke("set_crash_upload", { enabled: box.checked }).then(function (status) {
      box.checked = status.enabled;
    }, function (error) {
      box.checked = !box.checked;
      switchError = String(error);
    }).then(function () {
      switching = false;
      generation += 1;
      box.disabled = false;
      poll();
    });
  });

  $("copy").addEventListener("click", function () {
    hudson.invoke("diagnostics_text").then(function (report) {
      var area = $("report-text");
      area.value = report;
      area.hidden = false;
      area.select();
      var copied = document.execCommand && document.execCommand("copy");
      text("copied", copied ? "Copied." : "Select the text below and copy it.");
    }, function (error) { text("copied", String(error)); });
  });
  // One zip for support (logs, crash records, crash dump, this report, all
  // redacted), saved where the user picks; says where, or why not.
  $("export").addEventListener("click", function () {
    var button = $("export");
    button.disabled = true;
    text("exported", "Choose where to save the support bundle…");
    hudson.invoke("export_support_bundle").then(function (path) {
      text("exported", path ? "Saved to " + path : "Not saved: the save dialog was cancelled.");
    }, function (error) {
      text("exported", "Could not write the support bundle: " + String(error));
    }).then(function () { button.disabled = false; });
  });
  poll();
  setInterval(poll, 2000);
})();
