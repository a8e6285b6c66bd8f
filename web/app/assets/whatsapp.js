// WhatsApp sessions: while a portal user types a reply, the contact sees
// WhatsApp's typing indicator. The reply box (data-typing="/whatsapp/
// typing/<session>") posts at most every 10 s; the server sends it to
// Meta at most every 20 s per message (Meta shows it for up to 25 s).
(function () {
  "use strict";
  document.querySelectorAll("textarea[data-typing]").forEach(function (ta) {
    var last = 0;
    ta.addEventListener("input", function () {
      var now = Date.now();
      if (now - last < 10000 || !ta.form || !ta.form.elements.csrf_token) { return; }
      last = now;
      fetch(ta.getAttribute("data-typing"), {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": ta.form.elements.csrf_token.value }
      }).catch(function () {});
    });
  });
})();
