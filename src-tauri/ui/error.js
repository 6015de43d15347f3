// Reads the reason and the last log lines from the URL fragment and shows
// them as text (never as HTML).
(function () {
  document.getElementById("reason").textContent = hudson.params.get("reason") || "Unknown error.";
  var tail = hudson.params.get("tail") || "";
  if (tail) {
    document.getElementById("tail").textContent = tail;
    document.getElementById("tail-box").hidden = false;
  }
  hudson.button("restart", "restart_backend", "answer");
  hudson.button("open-logs", "open_logs_folder", "answer");
})();
