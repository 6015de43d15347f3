(function () {
  document.getElementById("version").textContent = hudson.params.get("version") || "unknown";
  hudson.button("check-updates", "check_for_updates", "answer");
})();
