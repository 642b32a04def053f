// Every fetch from a page that changes something carries the session's CSRF token, which the
// page gives in <meta name="sanad-csrf"> (no inline script: the Content-Security-Policy
// allows scripts from this site's files only).
(() => {
  "use strict";
  const meta = document.querySelector('meta[name="sanad-csrf"]');
  if (!meta) return;
  window.SANAD_CSRF = meta.content;
  window.sanadFetch = (url, opts = {}) =>
    fetch(url, {
      credentials: "same-origin",
      ...opts,
      headers: { "X-CSRF-Token": window.SANAD_CSRF, ...(opts.headers || {}) },
    });
})();
