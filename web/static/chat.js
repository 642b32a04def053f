// The customer chat page: a WebSocket client for /chat/ws (protocol in docs/webchat.md,
// "Customer chat protocol"). Plain ES2020, no build step.
//
// The pieces, top to bottom:
//   1. settings and small helpers (localStorage that may be unavailable, ids, sizes);
//   2. what we remember between page loads: the visitor, the transcript cache, the outbox;
//   3. rendering messages (dedupe by id, own messages matched by client_id);
//   4. the socket (socket.js reconnects and pings): hello/welcome, frames from the server;
//   5. the user's actions: send text, press buttons, the person/stop-waiting controls, upload.
(() => {
  "use strict";

  // ---- 1. settings and helpers --------------------------------------------------------------

  const cfg = JSON.parse(document.getElementById("chat-config").textContent);
  const T = cfg.texts;
  const MAX_TEXT = cfg.maxText || 4096;
  const CACHE_LIMIT = 300; // messages kept in the transcript cache
  const VISITOR_KEY = "sanad_visitor";
  const OUTBOX_KEY = "sanad_outbox";
  const transcriptKey = (visitor) => `sanad_transcript:${visitor}`;

  // The browser's IANA time zone (the follow-up after a resolve is never sent at night).
  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  const $ = (id) => document.getElementById(id);
  const els = {
    messages: $("messages"),
    text: $("composer-text"),
    send: $("send"),
    form: $("composer"),
    attach: $("attach"),
    talk: $("talk-to-person"),
    stop: $("stop-waiting"),
    status: $("chat-status"),
    error: $("chat-error"),
  };

  // localStorage can throw (storage blocked in a third-party frame, quota): then we simply
  // remember nothing between page loads.
  const store = {
    get(key, fallback = null) {
      try {
        const raw = window.localStorage.getItem(key);
        return raw === null ? fallback : JSON.parse(raw);
      } catch {
        return fallback;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, JSON.stringify(value));
      } catch {
        /* not persisted; the page still works */
      }
    },
    remove(key) {
      try {
        window.localStorage.removeItem(key);
      } catch {
        /* ignore */
      }
    },
  };

  const newClientId = () =>
    window.crypto && crypto.randomUUID
      ? crypto.randomUUID()
      : `c${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;

  const fill = (template, values) =>
    template.replace(/\{(\w+)\}/g, (all, name) => (name in values ? values[name] : all));

  function formatSize(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  let errorTimer = null;
  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => (els.error.hidden = true), 8000);
  }

  // ---- 2. what we remember --------------------------------------------------------------------

  // The object tests (and curious developers) can look at. `socket`, `state` and `outbox` are
  // kept up to date in place: `outbox` is always the same array.
  // For tests and for poking around: the live socket, the ticket state, the outbox.
  const chat = (window.sanadChat = {
    get socket() {
      return link ? link.socket : null;
    },
    state: null,
    outbox: [],
  });

  let visitor = store.get(VISITOR_KEY);
  let uploadMaxBytes = cfg.uploadMaxBytes;

  // The outbox: every frame we send with a client_id stays here (and in localStorage) until
  // the server's `ack` for that client_id. After a reconnect we resend it in order; the server
  // handles a client_id once, so a resend never duplicates anything.
  chat.outbox.push(...(store.get(OUTBOX_KEY) || []));
  const saveOutbox = () => store.set(OUTBOX_KEY, chat.outbox);

  // The transcript cache: the messages shown, per visitor, so a reload shows the conversation at
  // once and asks the server only for what is newer (`since`).
  const cache = { since: 0, messages: new Map() }; // id -> message frame
  function loadCache() {
    const saved = visitor ? store.get(transcriptKey(visitor)) : null;
    if (!saved) return;
    for (const m of saved.messages || []) cache.messages.set(m.id, m);
    cache.since = saved.since || 0;
  }
  function saveCache() {
    if (!visitor) return;
    const messages = [...cache.messages.values()].sort((a, b) => a.id - b.id).slice(-CACHE_LIMIT);
    store.set(transcriptKey(visitor), { since: cache.since, messages });
  }

  // ---- 3. rendering messages ------------------------------------------------------------------

  const shown = new Map(); // transcript id -> element: a message is never shown twice
  const pending = new Map(); // client_id -> element of our own message not yet confirmed
  const uploadIds = new Map(); // transcript id (from the upload's answer) -> client_id

  function senderLabel(m) {
    if (m.sender === "customer") return T.you;
    if (m.sender === "agent") return m.agent || T.agent;
    if (m.sender === "bot") return cfg.brand || T.bot;
    return null; // system messages have no label
  }

  function renderButtons(node, m) {
    node.querySelector(".msg-buttons")?.remove();
    const rows = (m.buttons || []).filter((row) => row && row.length);
    if (!rows.length) return;
    const box = el("div", "msg-buttons");
    for (const row of rows) {
      const line = el("div", "msg-button-row");
      for (const button of row) {
        const b = el("button", "msg-button", button.label);
        b.type = "button";
        b.dataset.data = button.data;
        b.addEventListener("click", () => press(m.id, button.data, node));
        line.append(b);
      }
      box.append(line);
    }
    node.append(box);
  }

  function renderFile(bubble, file) {
    const link = el("a", "msg-file");
    link.href = file.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.setAttribute("download", file.name || "");
    if (/^image\/(png|jpe?g|gif|webp)$/i.test(file.content_type || "")) {
      const img = el("img", "msg-thumb");
      img.src = file.url;
      img.alt = file.name || "";
      img.loading = "lazy";
      img.addEventListener("load", scrollToBottom);
      link.append(img);
    }
    link.append(el("span", "msg-file-name", file.name), el("span", "msg-file-size", formatSize(file.size)));
    bubble.append(link);
  }

  // Fills (or refills) a message element from a `message` frame.
  function fillMessage(node, m) {
    node.className = `msg msg-${m.sender}`;
    node.dataset.id = m.id;
    node.dataset.sender = m.sender;
    node.replaceChildren();
    const label = senderLabel(m);
    if (label && m.sender !== "customer") node.append(el("div", "msg-from", label));
    const bubble = el("div", "msg-bubble");
    const isFile = m.kind === "file" && m.file;
    // A file message's text is often just the file name, which the link shows anyway.
    const text = isFile && m.text === m.file.name ? "" : m.text || "";
    const textNode = el("div", "msg-text", text);
    textNode.dir = "auto"; // mixed Arabic and English text reads in its own direction
    bubble.append(textNode);
    if (isFile) renderFile(bubble, m.file);
    node.append(bubble);
    if (m.created_at) {
      const time = el("time", "msg-time");
      time.dateTime = m.created_at;
      const date = new Date(m.created_at);
      if (!Number.isNaN(date.getTime())) {
        time.textContent = date.toLocaleTimeString(cfg.lang || undefined, { hour: "2-digit", minute: "2-digit" });
      }
      node.append(time);
    }
    if (m.kind === "choice") node.classList.add("msg-choice"); // a button the customer pressed
    renderButtons(node, m);
  }

  // Answer and suggestion buttons (feedback, suggested articles) belong to the latest line
  // that offers buttons: older ones can no longer be pressed.
  function disableStaleButtons() {
    const offering = [...els.messages.querySelectorAll(".msg")].filter((n) => n.querySelector(".msg-button"));
    for (const node of offering.slice(0, -1)) {
      for (const b of node.querySelectorAll("button.msg-button")) {
        if (/^(art|fb):/.test(b.dataset.data || "")) b.disabled = true;
      }
    }
  }

  // Messages stay in id order; our own unconfirmed messages (no id yet) stay at the end.
  function insertInOrder(node, id) {
    for (const child of els.messages.children) {
      const childId = child.dataset.id ? Number(child.dataset.id) : Infinity;
      if (childId > id && child !== node) {
        els.messages.insertBefore(node, child);
        return;
      }
    }
    els.messages.append(node);
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
    pinned = true;
  }

  // Following the conversation: while the customer is at the end, the end stays in view, also
  // when the box gets shorter (the "Talk to a person" control reappearing under the rating
  // stars, the composer growing, the keyboard on a phone).
  const NEAR_END_PX = 40;
  const fromEnd = () => els.messages.scrollHeight - els.messages.scrollTop - els.messages.clientHeight;
  let pinned = true;
  let lastHeight = els.messages.clientHeight;
  els.messages.addEventListener("scroll", () => {
    pinned = fromEnd() < NEAR_END_PX;
  });
  if (window.ResizeObserver) {
    new ResizeObserver(() => {
      // A scroll event measured after the box shrank may have unpinned us by the very amount
      // it shrank: that is still following the end.
      const shrank = Math.max(0, lastHeight - els.messages.clientHeight);
      lastHeight = els.messages.clientHeight;
      if (pinned || fromEnd() < NEAR_END_PX + shrank) scrollToBottom();
    }).observe(els.messages);
  }

  // A `message` frame (live, replayed, or from the cache).
  function showMessage(m, { persist = true } = {}) {
    if (shown.has(m.id)) return; // dedupe: already on screen
    const clientId = m.client_id || uploadIds.get(m.id);
    let node = clientId ? pending.get(clientId) : null;
    if (node) {
      pending.delete(clientId); // our own message coming back: confirm it in place
    } else {
      node = el("div");
    }
    fillMessage(node, m);
    insertInOrder(node, m.id);
    shown.set(m.id, node);
    disableStaleButtons();
    if (persist) {
      cache.messages.set(m.id, m);
      cache.since = Math.max(cache.since, m.id);
      saveCache();
    }
    scrollToBottom();
  }

  // Our own message, shown at once as "sending" until the server's message frame or ack.
  function showPending(clientId, text, { file = null } = {}) {
    const node = el("div", "msg msg-customer msg-pending");
    node.dataset.sender = "customer";
    node.dataset.clientId = clientId;
    const bubble = el("div", "msg-bubble");
    const textNode = el("div", "msg-text", text);
    textNode.dir = "auto"; // mixed Arabic and English text reads in its own direction
    bubble.append(textNode);
    if (file) bubble.append(el("div", "msg-file", `${file.name} (${formatSize(file.size)})`));
    node.append(bubble, el("div", "msg-state", T.sending));
    els.messages.append(node);
    pending.set(clientId, node);
    scrollToBottom();
    return node;
  }

  function markSent(clientId, id) {
    const node = pending.get(clientId);
    if (!node) return;
    node.classList.remove("msg-pending");
    node.querySelector(".msg-state")?.remove();
    // The message frame normally arrives before the ack and replaces the element; if the ack
    // comes first we know the id already, so the later frame is recognised as a duplicate.
    if (id != null && !shown.has(id)) {
      node.dataset.id = id;
      shown.set(id, node);
      pending.delete(clientId);
      const m = { id, sender: "customer", kind: "text", text: node.querySelector(".msg-text").textContent, buttons: [] };
      cache.messages.set(id, m);
      cache.since = Math.max(cache.since, id);
      saveCache();
    }
  }

  function applyUpdate(frame) {
    const m = cache.messages.get(frame.id);
    const node = shown.get(frame.id);
    if (!node) return;
    const merged = { ...(m || { id: frame.id, sender: node.dataset.sender }) };
    if ("text" in frame) merged.text = frame.text;
    if ("buttons" in frame) merged.buttons = frame.buttons;
    if (m) {
      cache.messages.set(frame.id, merged);
      saveCache();
      fillMessage(node, merged);
    } else {
      if ("text" in frame) node.querySelector(".msg-text").textContent = frame.text;
      renderButtons(node, merged);
    }
  }

  function clearTranscript() {
    els.messages.replaceChildren();
    shown.clear();
    pending.clear();
    cache.messages.clear();
    cache.since = 0;
  }

  // The two controls follow the ticket state.
  function setState(state) {
    chat.state = state || "bot";
    els.talk.hidden = !["bot", "resolved"].includes(chat.state);
    els.stop.hidden = !["queued", "offered"].includes(chat.state);
    document.body.dataset.state = chat.state;
  }

  // ---- 4. the socket --------------------------------------------------------------------------

  let welcomed = false;
  let helloVisitor = null;
  let helloSince = 0;

  function setStatus(text) {
    els.status.textContent = text || "";
    els.status.hidden = !text;
  }

  function rawSend(frame) {
    if (link) link.send(frame);
  }

  let link = null; // sanadSocket: the connection, reconnecting by itself

  function connect() {
    link = window.sanadSocket("/chat/ws", {
      onOpen(socket) {
        welcomed = false;
        helloVisitor = visitor;
        helloSince = cache.since;
        socket.send(JSON.stringify({
          type: "hello", visitor, since: cache.since, lang: cfg.lang || null, time_zone: browserZone(),
        }));
      },
      onFrame,
      onClose() {
        welcomed = false;
        setStatus(T.reconnecting);
      },
    });
  }

  function onWelcome(frame) {
    if (frame.visitor) {
      if (helloVisitor && frame.visitor !== helloVisitor && helloSince > 0) {
        // The server did not know our stored visitor and gave us a new one: the cached
        // transcript belongs to someone else. Start again, clean, as the new visitor.
        store.remove(transcriptKey(helloVisitor));
        clearTranscript();
        visitor = frame.visitor;
        store.set(VISITOR_KEY, visitor);
        link.socket.close(); // reconnects as the new visitor
        return;
      }
      visitor = frame.visitor;
      store.set(VISITOR_KEY, visitor);
    }
    if (frame.upload_max_bytes) uploadMaxBytes = frame.upload_max_bytes;
    setState(frame.ticket && frame.ticket.state);
    welcomed = true;
    link.connected();
    setStatus("");
    // Resend what the server has not acknowledged yet, oldest first.
    for (const pendingFrame of chat.outbox) rawSend(pendingFrame);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        onWelcome(frame);
        break;
      case "message":
        showMessage(frame);
        break;
      case "update":
        applyUpdate(frame);
        break;
      case "ack": {
        const index = chat.outbox.findIndex((f) => f.client_id === frame.client_id);
        if (index >= 0) {
          const [acked] = chat.outbox.splice(index, 1);
          saveOutbox();
          if (acked.type === "message") markSent(frame.client_id, frame.id);
        }
        break;
      }
      case "state":
        setState(frame.ticket && frame.ticket.state);
        break;
      case "error":
        showError(frame.message || "Error");
        if (frame.client_id) dropFromOutbox(frame.client_id);
        break;
      case "pong":
      default:
        break;
    }
  }

  // A frame the server refused will not be acknowledged: stop resending it.
  function dropFromOutbox(clientId) {
    const index = chat.outbox.findIndex((f) => f.client_id === clientId);
    if (index >= 0) {
      chat.outbox.splice(index, 1);
      saveOutbox();
    }
    const node = pending.get(clientId);
    if (node) {
      node.classList.add("msg-failed");
      node.querySelector(".msg-state")?.remove();
      pending.delete(clientId);
    }
  }

  // Every frame with a client_id goes through here: into the outbox first, then on the wire if
  // we are connected (otherwise the resend after `welcome` takes it).
  function sendFrame(frame) {
    chat.outbox.push(frame);
    saveOutbox();
    if (welcomed) rawSend(frame);
  }

  // ---- 5. the user's actions ------------------------------------------------------------------

  function sendText() {
    const text = els.text.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      showError(fill(T.tooLong, { max: MAX_TEXT }));
      return;
    }
    const clientId = newClientId();
    showPending(clientId, text);
    sendFrame({ type: "message", client_id: clientId, text });
    els.text.value = "";
    autoGrow();
    els.text.focus();
  }

  function press(messageId, data, node) {
    if (node) for (const b of node.querySelectorAll("button.msg-button")) b.disabled = true;
    sendFrame({ type: "press", client_id: newClientId(), message_id: messageId, data });
  }

  async function upload(file) {
    if (file.size > uploadMaxBytes) {
      showError(fill(T.fileTooBig, { max: formatSize(uploadMaxBytes) }));
      return;
    }
    const clientId = newClientId();
    const node = showPending(clientId, fill(T.uploading, { name: file.name }), { file });
    const body = new FormData();
    body.append("client_id", clientId);
    body.append("file", file, file.name);
    try {
      const headers = visitor ? { "X-Sanad-Visitor": visitor } : {};
      const response = await fetch("/chat/upload", { method: "POST", body, headers, credentials: "same-origin" });
      const raw = await response.text();
      let answer = null;
      try {
        answer = JSON.parse(raw);
      } catch {
        answer = null;
      }
      if (!response.ok) {
        // The server's JSON error when there is one; else a plain-text reason, else our own.
        const plain = /^text\/plain/.test(response.headers.get("content-type") || "") ? raw.slice(0, 300) : "";
        const fallback = response.status === 413 ? fill(T.fileTooBig, { max: formatSize(uploadMaxBytes) }) : "";
        throw new Error((answer && answer.error) || plain || fallback || `${T.uploadFailed} (${response.status})`);
      }
      // The message also comes as a `message` frame, matched to this element by client_id.
      // If that frame came first (without our client_id), drop the placeholder.
      if (answer && answer.id != null) {
        if (shown.has(answer.id) && shown.get(answer.id) !== node) {
          pending.delete(clientId);
          node.remove();
        } else {
          uploadIds.set(answer.id, clientId);
        }
      }
    } catch (err) {
      pending.delete(clientId);
      node.remove();
      showError(err && err.message ? err.message : T.uploadFailed);
    }
  }

  function autoGrow() {
    els.text.style.height = "auto";
    els.text.style.height = `${Math.min(els.text.scrollHeight, 160)}px`;
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendText();
  });
  els.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  els.text.addEventListener("input", autoGrow);
  els.attach.addEventListener("change", () => {
    const file = els.attach.files && els.attach.files[0];
    els.attach.value = ""; // the same file can be chosen again
    if (file) upload(file);
  });
  els.talk.addEventListener("click", () => press(null, "human"));
  els.stop.addEventListener("click", () => press(null, "cancel"));

  // ---- start ----------------------------------------------------------------------------------

  loadCache();
  for (const m of [...cache.messages.values()].sort((a, b) => a.id - b.id)) showMessage(m, { persist: false });
  // Messages typed before a reload and never acknowledged: show them as still sending.
  for (const frame of chat.outbox) if (frame.type === "message") showPending(frame.client_id, frame.text);
  els.talk.hidden = els.stop.hidden = true; // until the welcome tells us the ticket state
  setStatus(T.connecting);
  connect();
})();
