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

  // sampleRecipient is the first recipient the form has: the CSV
  // preview's first row (its columns by header, "number" from the phone
  // column) or else the first typed number.
  function sampleRecipient() {
    var s = {}, table = document.querySelector("#csv-preview table");
    if (table) {
      var heads = table.querySelectorAll("thead th"), row = table.querySelector("tbody tr");
      if (row) {
        heads.forEach(function (th, i) {
          var cell = row.cells[i];
          if (!cell) { return; }
          s[th.getAttribute("data-col")] = cell.textContent;
          if (th.hasAttribute("data-phone") && !s.number) { s.number = cell.textContent; }
        });
      }
    }
    var typed = document.getElementById("numbers");
    if (!s.number && typed) {
      var first = typed.value.split(/[\n,;]/).map(function (x) { return x.trim(); }).filter(Boolean)[0];
      if (first) { s.number = first; }
    }
    return s;
  }

  // fill replaces {{name}} with vals[name] where vals has a value.
  function fill(text, vals) {
    return text.replace(/\{\{\s*([^{}]+?)\s*\}\}/g, function (m, k) {
      return vals[k] !== undefined && vals[k] !== "" ? vals[k] : m;
    });
  }

  // mapsLocation reads coordinates and a place name from a Google Maps
  // URL (…/place/Name/@lat,lng…, ?q=lat,lng); the server's
  // campaign.ParseMapsURL decides what is sent.
  function mapsLocation(url) {
    var m = url.match(/@(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)/) ||
      url.match(/[?&](?:q|query|ll|center)=(-?\d+(?:\.\d+)?)(?:,|%2C)\s*(-?\d+(?:\.\d+)?)/i);
    var p = url.match(/\/place\/([^/@?]+)/), name = "";
    if (p) { try { name = decodeURIComponent(p[1].replace(/\+/g, " ")); } catch (e) { name = p[1]; } }
    return { lat: m ? m[1] : "", lng: m ? m[2] : "", name: name };
  }

  // waPreview shows the chosen WhatsApp template as the recipient sees it:
  // header (text, the picked image or the file's name, the location),
  // body with the variables filled for the sample recipient, footer and
  // buttons.
  function waPreview(box) {
    var sel = document.getElementById("template");
    var sampleOut = document.getElementById("wa-sample");
    var objectURL = "", objectFile = null;
    function update() {
      var sample = sampleRecipient(), key = sel ? sel.value : "";
      var group = null;
      document.querySelectorAll("[data-template]").forEach(function (g) {
        if (g.getAttribute("data-template") === key) { group = g; }
      });
      var visible = group && group.offsetParent !== null;
      box.querySelectorAll("[data-wa-preview]").forEach(function (msg) {
        msg.hidden = !visible || msg.getAttribute("data-wa-preview") !== key;
        if (msg.hidden) { return; }
        var vals = {};
        group.querySelectorAll("[data-var]").forEach(function (inp) {
          if (inp.value) { vals[inp.getAttribute("data-var")] = fill(inp.value, sample); }
        });
        msg.querySelectorAll("[data-fill]").forEach(function (el) { el.textContent = fill(el.getAttribute("data-fill"), vals); });
        var media = msg.querySelector(".wa-media");
        if (media) {
          var f = group.querySelector("input[data-media-file]"), ref = group.querySelector("input[data-media-ref]");
          var name = "", img = media.querySelector(".wa-img");
          var file = f && f.files && f.files.length ? f.files[0] : null;
          var show = file && media.getAttribute("data-media-kind") === "IMAGE" && /^image\//.test(file.type);
          if (objectURL && (!show || file !== objectFile)) { URL.revokeObjectURL(objectURL); objectURL = ""; objectFile = null; }
          if (show && !objectURL) {
            // The picked file itself, shown from memory (nothing is uploaded).
            objectURL = URL.createObjectURL(file);
            objectFile = file;
            img.src = objectURL;
          }
          img.hidden = !show;
          if (file) {
            name = file.name;
            img.alt = name;
          } else if (ref && ref.value) {
            name = ref.value === ref.getAttribute("data-ref") && ref.getAttribute("data-name") ? ref.getAttribute("data-name") : ref.value.split("/").pop();
          }
          media.querySelector(".wa-media-name").textContent = name;
        }
        var loc = msg.querySelector(".wa-loc");
        if (loc) {
          var maps = group.querySelector("input[id^='maps|']"), addr = group.querySelector("input[id^='address|']");
          var l = mapsLocation(maps ? maps.value : "");
          loc.querySelector(".wa-loc-name").textContent = (addr && addr.value) || l.name;
          loc.querySelector(".wa-loc-coords").textContent = l.lat ? fmt(box.getAttribute("data-coords"), [l.lat, l.lng]) : "";
        }
      });
      if (sampleOut) {
        sampleOut.hidden = !visible || !sample.number;
        sampleOut.textContent = sample.number ? fmt(sampleOut.getAttribute("data-tpl"), [sample.number]) : "";
      }
    }
    document.addEventListener("input", update);
    document.addEventListener("change", update);
    // The CSV preview arrives later (fetch); watch for it.
    var csv = document.getElementById("csv-preview");
    if (csv && window.MutationObserver) { new MutationObserver(update).observe(csv, { childList: true, subtree: true }); }
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var wa = document.getElementById("wa-preview");
    if (wa) { waPreview(wa); }
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    document.querySelectorAll("button[data-emoji-for]").forEach(emojiPicker);
  });
})();
