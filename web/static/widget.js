// Sanad's chat widget for any site:
//   <script src="https://sanad.example/static/widget.js" async></script>
// adds a round chat button in the bottom end corner that opens the chat (/chat?embed=1 on the
// server the script came from) in a frame. Optional: data-lang="ar|en" on the script tag
// (otherwise the page's <html lang>, when it is Arabic or English).
// The only global is window.SanadWidget = { open(), close(), toggle() }.
(() => {
  "use strict";
  if (window.SanadWidget) return; // included twice

  // currentScript is set while a classic script (async or not) runs; the fallback covers
  // anything that runs this file later.
  const script =
    document.currentScript || document.querySelector('script[src*="/static/widget.js"]');
  if (!script || !script.src) return;
  const origin = new URL(script.src, location.href).origin;

  const pick = (value) => {
    const primary = String(value || "").toLowerCase().split("-")[0];
    return primary === "ar" || primary === "en" ? primary : null;
  };
  const lang = pick(script.dataset.lang) || pick(document.documentElement.lang);
  const chatUrl = `${origin}/chat?embed=1${lang ? `&lang=${lang}` : ""}`;
  const labels = {
    en: { open: "Chat with us", close: "Close the chat" },
    ar: { open: "تحدث معنا", close: "إغلاق المحادثة" },
  }[lang || "en"];

  const CHAT_ICON =
    '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" ' +
    'd="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2z"/></svg>';
  const CLOSE_ICON =
    '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true"><path fill="none" ' +
    'stroke="currentColor" stroke-width="2.5" stroke-linecap="round" d="M6 6l12 12M18 6L6 18"/></svg>';

  // Everything lives in a shadow root, so the host page's CSS and ours do not meet. The
  // "end" corner follows the host page's direction (left on a right-to-left page).
  const host = document.createElement("div");
  host.id = "sanad-widget";
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `
    <style>
      :host { all: initial; }
      .button { position: fixed; inset-block-end: 20px; inset-inline-end: 20px; z-index: 2147483646;
                inline-size: 58px; block-size: 58px; border-radius: 50%; border: 0; cursor: pointer;
                background: #0b6e4f; color: #fff; display: flex; align-items: center;
                justify-content: center; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
      .button:focus-visible { outline: 3px solid #8fd3b6; outline-offset: 2px; }
      .frame { position: fixed; inset-block-end: 90px; inset-inline-end: 20px; z-index: 2147483647;
               inline-size: 370px; block-size: 560px;
               max-inline-size: calc(100vw - 24px); max-block-size: calc(100vh - 110px);
               border: 0; border-radius: 14px; background: #fff;
               box-shadow: 0 8px 30px rgba(0,0,0,.25); }
      .frame[hidden] { display: none; }
      @media (max-width: 480px) {
        .frame { inset-inline-end: 12px; max-inline-size: calc(100vw - 24px); }
      }
    </style>
    <button class="button" type="button" aria-expanded="false"></button>`;
  const button = root.querySelector(".button");
  let frame = null; // created on first open, so the chat connects only when wanted

  function render(isOpen) {
    button.innerHTML = isOpen ? CLOSE_ICON : CHAT_ICON;
    button.setAttribute("aria-label", isOpen ? labels.close : labels.open);
    button.title = isOpen ? labels.close : labels.open;
    button.setAttribute("aria-expanded", String(isOpen));
  }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.className = "frame";
      frame.src = chatUrl;
      frame.title = labels.open;
      frame.allow = "clipboard-write";
      root.append(frame);
    }
    frame.hidden = false;
    render(true);
  }

  function close() {
    if (frame) frame.hidden = true;
    render(false);
  }

  function toggle() {
    if (frame && !frame.hidden) close();
    else open();
  }

  button.addEventListener("click", toggle);
  render(false);

  const mount = () => document.body.append(host);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.SanadWidget = Object.freeze({ open, close, toggle });
})();
