// Reads the reason and the backend's last lines from the URL fragment and
// shows them as text (never as HTML).
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  document.getElementById("reason").textContent = params.get("reason") || "Unknown error.";
  var tail = params.get("tail") || "";
  if (tail) {
    document.getElementById("tail").textContent = tail;
    document.getElementById("tail-box").hidden = false;
  }
})();
