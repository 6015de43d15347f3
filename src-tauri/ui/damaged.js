// Lists the modules that did not load (from the fragment), as text.
(function () {
  var list = document.getElementById("modules");
  hudson.params.getAll("module").forEach(function (entry) {
    var cut = entry.indexOf(":");
    var item = document.createElement("li");
    var name = document.createElement("code");
    name.textContent = cut < 0 ? entry : entry.slice(0, cut);
    item.appendChild(name);
    if (cut >= 0) item.appendChild(document.createTextNode(": " + entry.slice(cut + 1)));
    list.appendChild(item);
  });
  hudson.button("open-logs", "open_logs_folder", "answer");
})();
