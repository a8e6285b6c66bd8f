// pbxgate portal: progressive enhancements only; every page works without.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Phones: the menu button opens and closes the navigation.
  function navToggle(btn) {
    var header = btn.closest("header");
    btn.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      btn.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // As the catalog's T: {n} is argument n, {n|one|other} its plural form.
  function fmt(tpl, args) {
    return tpl.replace(/\{(\d+)\|([^{}|]*)\|([^{}|]*)\}/g, function (m, i, one, other) {
      return args[i] === undefined ? m : String(args[i]) === "1" ? one : other;
    }).replace(/\{(\d+)\}/g, function (m, i) { return args[i] === undefined ? m : args[i]; });
  }

  // Live views: the server pushes the fragment as server-sent events
  // (web/live) whenever it changes; without EventSource, or when the
  // server has no stream slot free, the fragment is refetched (data-live)
  // or the page reloads (data-refresh).
  var streaming = 0;
  function poll(el) {
    var url = el.getAttribute("data-live"), every = +el.getAttribute("data-interval") || 5000;
    if (!url) { return; }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (r.redirected || !r.ok) { return null; }
        return r.text();
      }).then(function (html) {
        if (html !== null && html !== undefined) { el.innerHTML = html; }
        setTimeout(tick, every);
      }).catch(function () { setTimeout(tick, every * 2); });
    }
    setTimeout(tick, every);
  }
  function live(el) {
    var url = el.getAttribute("data-events");
    if (!url || !window.EventSource) { poll(el); return; }
    var es = new EventSource(url), open = false, pending = null;
    // Never pull a button or field from under the user: an update waits
    // while focus is inside the view.
    function apply(html) {
      var a = document.activeElement;
      if (a && a !== document.body && el.contains(a)) { pending = html; return; }
      el.innerHTML = html;
      el.setAttribute("data-live-state", "streaming");
    }
    el.addEventListener("focusout", function () {
      setTimeout(function () {
        if (pending !== null) { var h = pending; pending = null; apply(h); }
      }, 0);
    });
    es.addEventListener("update", function (e) {
      if (!open) { open = true; streaming++; }
      apply(e.data);
    });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) {
        if (open) { open = false; streaming--; }
        el.setAttribute("data-live-state", "polling");
        poll(el);
      }
    });
  }

  // GSM 03.38 basic and extension tables, as in gateway/sms.
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "\f^{}\\[~]|€";

  // plan mirrors sms.PlanText: encoding, parts and units left in the last
  // part, never splitting a character across parts.
  function plan(text) {
    var chars = Array.from(text), gsm = true, i, c;
    for (i = 0; i < chars.length; i++) {
      c = chars[i];
      if (GSM.indexOf(c) < 0 && EXT.indexOf(c) < 0) { gsm = false; break; }
    }
    var cost = function (ch) {
      if (gsm) { return EXT.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.codePointAt(0) > 0xffff ? 2 : 1;
    };
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67, units = 0;
    chars.forEach(function (ch) { units += cost(ch); });
    if (units <= single) { return { gsm: gsm, chars: chars.length, parts: 1, units: units, left: single - units }; }
    var parts = 1, used = 0;
    chars.forEach(function (ch) {
      var u = cost(ch);
      if (used + u > multi) { parts++; used = 0; }
      used += u;
    });
    return { gsm: gsm, chars: chars.length, parts: parts, units: units, left: multi - used };
  }

  // composer.js (the emoji picker's warning) and the browser test that
  // compares plan with sms.PlanText use it too.
  window.pbxgatePlan = plan;

  function counter(area) {
    var out = document.getElementById(area.getAttribute("data-counter"));
    var preview = document.querySelector("[data-source='" + area.id + "']");
    var shorten = document.getElementById("shorten_links");
    var sample = out.getAttribute("data-shortlink");
    // With "shorten links" the counter counts what is really sent: every
    // link as a short link of the real length (gateway/shortlink's pattern).
    function sent() {
      if (!shorten || !shorten.checked || !sample) { return area.value; }
      return area.value.replace(/https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]}'*]/g, sample);
    }
    function update() {
      var p = plan(sent());
      var enc = p.gsm ? out.getAttribute("data-gsm") : out.getAttribute("data-ucs");
      out.textContent = fmt(out.getAttribute("data-tpl"), [p.chars, p.parts, enc, p.left]);
      if (p.chars > +out.getAttribute("data-max")) { out.textContent += " – " + out.getAttribute("data-over"); out.classList.add("err"); }
      else { out.classList.remove("err"); }
      if (preview) { preview.textContent = area.value; }
    }
    area.addEventListener("input", update);
    if (shorten) { shorten.addEventListener("change", update); }
    update();
  }

  // CSV preview: post the chosen file, show detected columns and bad rows.
  function csvPreview(input) {
    input.addEventListener("change", function () {
      if (!input.files.length) { return; }
      var form = input.form, fd = new FormData();
      fd.append("csv", input.files[0]);
      fetch(input.getAttribute("data-preview"), {
        method: "POST", body: fd, credentials: "same-origin",
        headers: { "X-CSRF-Token": form.elements.csrf_token.value }
      }).then(function (r) { return r.text(); }).then(function (html) {
        document.getElementById("csv-preview").innerHTML = html;
      });
    });
  }

  // Show the content section of the chosen sender's kind (SMS text or a
  // WhatsApp template).
  function kindSections(sel) {
    function update() {
      var opt = sel.options[sel.selectedIndex], kind = opt ? opt.getAttribute("data-kind") : "";
      document.querySelectorAll("[data-kind-section]").forEach(function (el) {
        el.hidden = !!kind && el.getAttribute("data-kind-section").split(" ").indexOf(kind) < 0;
      });
    }
    sel.addEventListener("change", update);
    update();
  }

  // Show the chosen template's variables and preview its body live.
  function templatePicker(sel) {
    function update() {
      document.querySelectorAll("[data-template]").forEach(function (el) {
        el.hidden = el.getAttribute("data-template") !== sel.value;
      });
    }
    sel.addEventListener("change", update);
    update();
    document.querySelectorAll("[data-template]").forEach(function (group) {
      var body = group.querySelector(".tpl-body");
      if (!body) { return; } // composer.js previews the whole message
      function render() {
        var text = body.getAttribute("data-body");
        group.querySelectorAll("[data-var]").forEach(function (inp) {
          if (inp.value) { text = text.split("{{" + inp.getAttribute("data-var") + "}}").join(inp.value); }
        });
        body.textContent = text;
      }
      group.addEventListener("input", render);
      render();
    });
  }

  // The preview names the chosen template's header file: a picked file,
  // else the uploaded one behind the media ID, else the URL's last part.
  function mediaPreview(out) {
    var tpl = out.getAttribute("data-tpl");
    function update() {
      var name = "";
      document.querySelectorAll("[data-template]").forEach(function (g) {
        if (g.hidden || g.offsetParent === null) { return; }
        var f = g.querySelector("input[data-media-file]"), ref = g.querySelector("input[data-media-ref]");
        if (f && f.files && f.files.length) {
          name = f.files[0].name;
        } else if (ref && ref.value) {
          name = ref.value === ref.getAttribute("data-ref") && ref.getAttribute("data-name") ?
            ref.getAttribute("data-name") : ref.value.split("/").pop();
        }
      });
      out.textContent = name ? tpl.split("{0}").join(name) : "";
      out.hidden = !name;
    }
    document.addEventListener("change", update);
    document.addEventListener("input", update);
    update();
  }

  // After a restore: wait until the restarted daemon answers, then go on.
  function waitReady(el) {
    var url = el.getAttribute("data-wait-ready"), then = el.getAttribute("data-then");
    var start = Date.now(), down = false;
    var poll = function () {
      fetch(url, { cache: "no-store" }).then(function (r) {
        if (r.ok && (down || Date.now() - start > 8000)) { location.href = then; return; }
        if (!r.ok) { down = true; }
        setTimeout(poll, 1000);
      }, function () { down = true; setTimeout(poll, 1000); });
    };
    setTimeout(poll, 1000);
  }

  // Destructive forms (data-confirm="question") ask before they post and
  // then say so (confirm=yes); without JavaScript the server asks on a
  // confirmation page instead.
  function confirmForm(f) {
    f.addEventListener("submit", function (e) {
      if (f.querySelector("input[name=confirm]")) { return; }
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); return; }
      var i = document.createElement("input");
      i.type = "hidden"; i.name = "confirm"; i.value = "yes";
      f.appendChild(i);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-confirm]").forEach(confirmForm);
    document.querySelectorAll("[data-wait-ready]").forEach(waitReady);
    var sender = document.getElementById("sender");
    if (sender) { kindSections(sender); }
    document.querySelectorAll("[data-template-picker]").forEach(templatePicker);
    var mp = document.getElementById("media-preview");
    if (mp) { mediaPreview(mp); }
    document.querySelectorAll("[data-live], [data-events]").forEach(live);
    // The sessions' target only matters in session mode.
    var sm = document.getElementById("send-mode");
    if (sm) {
      var showTarget = function () { document.getElementById("session-target").hidden = !document.getElementById("mode-session").checked; };
      sm.addEventListener("change", showTarget);
      showTarget();
    }
    var nt = document.getElementById("nav-toggle");
    if (nt) { navToggle(nt); }
    document.querySelectorAll("textarea[data-counter]").forEach(counter);
    document.querySelectorAll("input[data-preview]").forEach(csvPreview);
    // Pages of running work reload themselves, but never while the user
    // types into a form on them.
    var r = document.querySelector("[data-refresh]");
    if (r) {
      var every = +r.getAttribute("data-refresh"), dirty = false;
      document.addEventListener("input", function () { dirty = true; });
      var wait = function () {
        setTimeout(function () {
          var a = document.activeElement;
          if (streaming > 0 || dirty || (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName))) { wait(); } else { location.reload(); }
        }, every);
      };
      wait();
    }
  });
})();
