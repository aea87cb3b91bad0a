/* lakehose console: the few behaviours the pages need. No inline script anywhere (CSP). */
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : null;
  }

  // htmx requests carry the session's CSRF token in a header.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = meta("csrf-token");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  // A page that showed a secret after a POST takes its own URL, so that reloading it is
  // a plain GET that never shows the secret again.
  var location = meta("page-location");
  if (location && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", location);
  }

  function copyText(text, button) {
    function done(ok) {
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      button.textContent = ok ? "Copied" : "Select and copy";
      button.classList.toggle("copied", ok);
      window.setTimeout(function () { button.textContent = label; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    done(ok);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var copy = target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source) { copyText(source.textContent.trim(), copy); }
      event.preventDefault();
      return;
    }
    var opener = target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && dialog.showModal) { dialog.showModal(); event.preventDefault(); }
      return;
    }
    var closer = target.closest("[data-dialog-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) { open.close(); event.preventDefault(); }
    }
  });
})();
