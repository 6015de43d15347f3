// The Updates window: shows what the shell's updater is doing (asked every
// half second), the offer with its notes and size, a progress bar, "Restart
// to update" once the download is verified, and why an update was undone.
(function () {
  function $(id) { return document.getElementById(id); }
  function show(id, on) { $(id).hidden = !on; }
  function size(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }
  function when(text) { return text ? new Date(text).toLocaleString() : ""; }

  function render(v) {
    $("installed").textContent = v.installed;
    show("channel-line", !!v.channel);
    $("channel").textContent = v.channel || "";
    $("message").textContent = v.message;
    show("notice-box", !!v.notice);
    $("notice").textContent = v.notice || "";
    show("offer-box", !!v.offer);
    if (v.offer) {
      $("offer-title").textContent = (v.offer.downgrade ? "Back to Hudson " : "Hudson ") + v.offer.version;
      $("offer-size").textContent = "(" + size(v.offer.size) + ")";
      show("offer-notes", !!v.offer.notes);
      $("offer-notes").textContent = v.offer.notes || "";
    }
    var p = v.progress;
    show("progress", v.phase === "downloading" && !!p);
    if (p) { $("progress").max = p[1] || 1; $("progress").value = p[0]; }
    show("restart", v.phase === "ready");
    $("check").disabled = v.phase === "unavailable" || v.phase === "checking" ||
      v.phase === "downloading" || v.phase === "installing";
    $("last-check").textContent = v.last_check ? "Last checked " + when(v.last_check) + "." : "";
    $("next-check").textContent = v.next_check ? "Next check " + when(v.next_check) + "." : "";
    show("rollback", !!v.rollback_copy);
    $("rollback").textContent = v.rollback_copy ? "The previous version is kept at " + v.rollback_copy : "";
  }

  function poll() {
    hudson.invoke("update_status").then(render, function (error) {
      $("message").textContent = String(error);
    });
  }

  hudson.button("check", "check_for_updates", "answer");
  hudson.button("restart", "restart_to_update", "answer");
  hudson.button("dismiss", "dismiss_update_notice", "answer");
  poll();
  setInterval(poll, 500);
})();
