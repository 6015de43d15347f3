// Shared by the shell's own pages: read the fragment, call the shell.
// Only these pages (tauri://localhost) may call the shell's commands; the
// backend's origin is granted none (capabilities/local-pages.json).
var hudson = {
  params: new URLSearchParams(window.location.hash.slice(1)),
  invoke: function (command, args) {
    return window.__TAURI_INTERNALS__.invoke(command, args || {});
  },
  // Wires a button to a command; shows the command's answer or error in
  // the element `#<output>` when given.
  button: function (id, command, output) {
    var el = document.getElementById(id);
    if (!el) return;
    el.addEventListener("click", function () {
      el.disabled = true;
      hudson.invoke(command).then(function (answer) {
        if (output && answer) document.getElementById(output).textContent = answer;
      }, function (error) {
        if (output) document.getElementById(output).textContent = String(error);
      }).then(function () { el.disabled = false; });
    });
  }
};
