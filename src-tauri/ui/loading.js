// Shows what the shell is doing while the backend starts (the fragment says
// "restarting" after a crash), as text, never as HTML.
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  var status = params.get("status");
  if (status) {
    document.getElementById("status").textContent = status;
  }
})();
