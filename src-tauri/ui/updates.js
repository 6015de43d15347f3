// The window the "Check for updates" menu item opens: asks at once.
(function () {
  var out = document.getElementById("answer");
  hudson.invoke("check_for_updates").then(function (answer) {
    out.textContent = answer;
  }, function (error) {
    out.textContent = String(error);
  });
})();
