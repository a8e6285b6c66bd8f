// The message composer's helpers (issue 20): selects that filter on
// change, and the emoji picker of SMS texts with its warning when emoji
// switch the text from GSM-7 to UCS-2 (plan is app.js's copy of
// sms.PlanText). Offline: the emoji are listed here, no CDN.
(function () {
  "use strict";

  // A small, common set; each is one code point outside GSM-7.
  var EMOJI = ["😀", "😊", "😉", "😍", "👍", "👋", "🙏", "👏", "🎉", "🎁",
    "❤️", "⭐", "✅", "❌", "⚠️", "📞", "📱", "💬", "📅", "⏰",
    "🕘", "📍", "🏠", "🚗", "☀️", "🌧️", "🎄", "🐣", "💶", "🛒"];

  function fmt(tpl, args) {
    return tpl.replace(/\{(\d+)\}/g, function (m, i) { return args[+i] !== undefined ? String(args[+i]) : m; });
  }

  function insertAt(area, text) {
    var start = area.selectionStart, end = area.selectionEnd, v = area.value;
    if (typeof start !== "number") { start = end = v.length; }
    area.value = v.slice(0, start) + text + v.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.dispatchEvent(new Event("input", { bubbles: true }));
    area.focus();
  }

  // emojiWarning shows, while emoji force an otherwise GSM-7 text into
  // UCS-2 and so into more parts, how many parts it needs with and without
  // them.
  function emojiWarning(area, out) {
    var plan = window.pbxgatePlan;
    if (!plan) { return; }
    function update() {
      var with_ = plan(area.value);
      var without = plan(area.value.replace(/\p{Extended_Pictographic}|\uFE0F|\u200D/gu, ""));
      if (!with_.gsm && without.gsm && with_.parts > without.parts) {
        out.textContent = fmt(out.getAttribute("data-tpl"), [with_.parts, without.parts]);
        out.hidden = false;
      } else {
        out.textContent = "";
        out.hidden = true;
      }
    }
    area.addEventListener("input", update);
    update();
  }

  function emojiPicker(btn) {
    var area = document.getElementById(btn.getAttribute("data-emoji-for"));
    var panel = document.getElementById(btn.getAttribute("aria-controls"));
    if (!area || !panel) { return; }
    EMOJI.forEach(function (e) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "emoji";
      b.textContent = e;
      b.setAttribute("aria-label", fmt(panel.getAttribute("data-insert"), [e]));
      b.addEventListener("click", function () { insertAt(area, e); });
      panel.appendChild(b);
    });
    btn.addEventListener("click", function () {
      var open = panel.hidden;
      panel.hidden = !open;
      btn.setAttribute("aria-expanded", open ? "true" : "false");
    });
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { panel.hidden = true; btn.setAttribute("aria-expanded", "false"); btn.focus(); }
    });
    var warn = document.getElementById(btn.getAttribute("data-warning"));
    if (warn) { emojiWarning(area, warn); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    document.querySelectorAll("button[data-emoji-for]").forEach(emojiPicker);
  });
})();
