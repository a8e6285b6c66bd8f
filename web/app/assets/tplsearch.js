// The campaign form's template search, filtering as the user types. The
// server filters the same way when the form is posted with "Search"
// (app/template_search.go), so the page works without JavaScript; here
// the picker is rebuilt from every template's group (div.tpl, rendered for
// all templates whatever the server filtered), so a narrower server-side
// result can be widened again without a round trip.
(function () {
  "use strict";

  function templateSearch(input) {
    var sel = document.getElementById(input.getAttribute("data-template-search"));
    var out = document.getElementById(input.getAttribute("data-count"));
    if (!sel || !out) { return; }
    var items = [];
    document.querySelectorAll("div.tpl[data-template]").forEach(function (g) {
      items.push({ key: g.getAttribute("data-template"), label: g.getAttribute("data-label"),
        text: g.getAttribute("data-search") || "" });
    });
    var tpl = out.getAttribute("data-tpl"), none = out.getAttribute("data-none"), timer = 0;

    function update() {
      var words = input.value.toLowerCase().split(/\s+/).filter(function (w) { return w; });
      var cur = sel.value, n = 0; // n counts matches, not the kept choice
      while (sel.options.length > 1) { sel.remove(1); } // keep "choose a template"
      items.forEach(function (it) {
        var match = words.every(function (w) { return it.text.indexOf(w) >= 0; });
        if (match) { n++; } else if (it.key !== cur) { return; }
        sel.add(new Option(it.label, it.key, false, it.key === cur));
      });
      // The count is announced (aria-live) once the user pauses typing.
      clearTimeout(timer);
      timer = setTimeout(function () {
        out.textContent = n ? tpl.split("{0}").join(String(n)) : none;
      }, 300);
    }
    input.addEventListener("input", update);
    // Enter filters here instead of posting the form.
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); update(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-template-search]").forEach(templateSearch);
  });
}());
