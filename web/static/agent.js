// Sanad agent console (/agent). Plain JavaScript, no build step.
//
// How it fits together, top to bottom:
//   1. config and state        - texts from the page, everything the console knows
//   2. small helpers           - DOM building, text formatting, the JSON API call
//   3. banners                 - errors from the API and short notices
//   4. the agent and status    - top bar: name, status select, "Ready" during wrap-up
//   5. offers                  - cards with a live countdown, Accept / Decline
//   6. chats list              - every open chat of the agent, unread marks
//   7. the open chat           - transcript, notes, reply (with retry), canned, transfer, close
//   8. the push socket         - /agent/ws with reconnect, backoff and ping
//   9. start
// The API and the push frames are described in docs/webchat.md, section "Agent console".
(() => {
  "use strict";

  // ---------------------------------------------------------------- 1. config and state
  const cfg = JSON.parse(document.getElementById("console-config").textContent);
  const TEXTS = cfg.texts || {};
  const VALUES = cfg.values || {}; // kind -> stored value -> the page language's word

  const state = {
    agent: cfg.agent || null,
    offers: new Map(), // String(offer_id) -> {offer, deadlineMs, receivedMs, ended, el}
    chats: [], // as GET /api/v1/agent/chats answers
    unread: new Map(), // ticket id -> customer messages the agent has not seen
    openId: null, // the ticket id shown on the right
    shownIds: new Set(), // message ids already in #transcript (never show one twice)
    openGeneration: 0, // bumps on each openChat(), so a late answer for another chat is ignored
    pendingReply: null, // {ticketId, text, clientId} while a reply waits for the server
    saying: new Map(), // client_id -> {done, failed}: a line sent over the socket, unanswered
    socket: null,
    link: null, // sanadSocket: the push socket, reconnecting by itself
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    name: $("agent-name"),
    status: $("agent-status"),
    wrapUp: $("wrap-up"),
    ready: $("status-ready"),
    load: $("agent-load"),
    connection: $("connection"),
    error: $("console-error"),
    notice: $("console-notice"),
    offers: $("offers"),
    noOffers: $("no-offers"),
    chats: $("chats"),
    noChats: $("no-chats"),
    pickChat: $("pick-chat"),
    chatView: $("chat-view"),
    chatCustomer: $("chat-customer"),
    chatMeta: $("chat-meta"),
    transcript: $("transcript"),
    replyText: $("reply-text"),
    replySend: $("reply-send"),
    replyFile: $("reply-file"),
    replyStatus: $("reply-status"),
    canned: $("canned-select"),
    notes: $("notes"),
    noteText: $("note-text"),
    noteAdd: $("note-add"),
    transferOpen: $("transfer-open"),
    transferDialog: $("transfer-dialog"),
    transferForm: $("transfer-form"),
    transferTarget: $("transfer-target"),
    closeChat: $("close-chat"),
    alertsEnable: $("alerts-enable"),
    alertsMute: $("alerts-mute"),
  };

  // ---------------------------------------------------------------- 2. small helpers

  // A text of the page, with {name} placeholders filled in.
  function t(key, values = {}) {
    const text = TEXTS[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // A notice's facts as the page says them (a stored priority in the page's language).
  function noticeFacts(data) {
    const facts = { ...(data || {}) };
    if (typeof facts.priority === "string") facts.priority = value("priority", facts.priority);
    return facts;
  }

  // A stored value (priority "high", channel "web"...) in the page's language.
  function value(kind, stored) {
    const known = VALUES[kind] || {};
    return stored in known ? known[stored] : String(stored ?? "");
  }

  // document.createElement with a class, attributes and children (strings become text nodes,
  // so nothing from the server is ever parsed as HTML).
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // 75 -> "1:15"; 3700 -> "1:01:40".
  function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  function formatTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString(cfg.lang === "ar" ? "ar" : "en", { hour: "2-digit", minute: "2-digit" });
  }

  // A unique id for a frame we send (crypto.randomUUID needs a secure context; fall back).
  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // An API failure: `network` is true when no answer came at all (worth retrying).
  class ApiError extends Error {
    constructor(message, status, network = false) {
      super(message);
      this.status = status;
      this.network = network;
    }
  }

  // Calls the JSON API with the session's CSRF header (window.sanadFetch from base.html).
  async function api(method, path, body) {
    const doFetch = window.sanadFetch || ((url, opts) => fetch(url, { credentials: "same-origin", ...opts }));
    const opts = { method, headers: { Accept: "application/json" } };
    if (body instanceof FormData) {
      opts.body = body; // multipart: the browser sets the Content-Type with its boundary
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await doFetch(path, opts);
    } catch (exc) {
      throw new ApiError(String(exc.message || exc), 0, true);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.error) || `HTTP ${response.status}`;
      throw new ApiError(message, response.status);
    }
    return data || {};
  }

  // ---------------------------------------------------------------- 3. banners

  function showError(exc) {
    const message = exc instanceof Error ? exc.message : String(exc);
    el.error.querySelector(".banner-text").textContent = t("error", { message });
    el.error.hidden = false;
  }

  el.error.querySelector(".banner-dismiss").addEventListener("click", () => {
    el.error.hidden = true;
  });

  let noticeTimer = null;
  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      el.notice.hidden = true;
    }, 6000);
  }

  // ---------------------------------------------------------------- 4. the agent and status

  function inWrapUp(agent) {
    if (!agent) return false;
    if (agent.status === "wrap_up") return true;
    return Boolean(agent.wrap_up_until) && Date.parse(agent.wrap_up_until) > Date.now();
  }

  function renderAgent(agent) {
    if (!agent) return;
    state.agent = agent;
    el.name.textContent = agent.name;
    // wrap_up is not a choice of the select: it shows as "Wrapping up" with the Ready button.
    if (["available", "away", "offline"].includes(agent.status)) el.status.value = agent.status;
    else if (agent.status === "wrap_up") el.status.value = "available";
    el.wrapUp.hidden = !inWrapUp(agent);
    el.load.textContent = t("load", { load: agent.load ?? 0, capacity: agent.capacity ?? 0 });
  }

  async function setStatus(status) {
    try {
      const data = await api("POST", "/api/v1/agent/status", { status });
      renderAgent(data.agent);
    } catch (exc) {
      showError(exc);
      renderAgent(state.agent); // put the select back to what the server has
    }
  }

  el.status.addEventListener("change", () => setStatus(el.status.value));
  el.ready.addEventListener("click", () => setStatus("ready"));

  // ---------------------------------------------------------------- 5. offers

  // The server gives `seconds_left` (counted on its clock) and `deadline`; counting down from
  // seconds_left on our clock is immune to a wrong clock on the agent's computer.
  function addOffer(offer) {
    const key = String(offer.offer_id);
    const existing = state.offers.get(key);
    if (existing) {
      clearTimeout(existing.timer);
      existing.el.remove();
    }
    const now = Date.now();
    let deadlineMs = now + Number(offer.seconds_left ?? 0) * 1000;
    if (offer.seconds_left === undefined || offer.seconds_left === null) deadlineMs = Date.parse(offer.deadline) || now;
    const entry = { offer, deadlineMs, receivedMs: now, ended: false, el: null };

    const accept = h("button", { type: "button", class: "accept", onclick: () => answerOffer(entry, "accept") }, t("accept"));
    const decline = h(
      "button",
      { type: "button", class: "decline secondary", onclick: () => answerOffer(entry, "decline") },
      t("decline"),
    );
    entry.el = h(
      "div",
      { class: `offer priority-${offer.priority ?? "normal"}`, dataset: { offerId: offer.offer_id, ticketId: offer.ticket_id } },
      h(
        "div",
        { class: "offer-head" },
        h("strong", { class: "offer-customer", dir: "auto" }, offer.customer_name || `#${offer.ticket_id}`),
        h("span", { class: "countdown", dir: "ltr" }),
      ),
      h(
        "div",
        { class: "offer-meta muted" },
        h("span", { class: "offer-priority" }, `${t("priority")}: ${value("priority", offer.priority ?? "normal")}`),
        h("span", { class: "offer-category" }, `${t("category")}: ${offer.category || t("no_category")}`),
        offer.language ? h("span", { class: "offer-language" }, value("language", offer.language)) : null,
        h("span", { class: "offer-waiting" }),
      ),
      h(
        "ul",
        { class: "offer-messages" },
        (offer.last_messages || []).map((text) => h("li", { dir: "auto" }, text)),
      ),
      h("div", { class: "offer-actions" }, accept, decline),
    );
    state.offers.set(key, entry);
    el.offers.prepend(entry.el);
    entry.timer = setTimeout(() => endOffer(offer.offer_id, "expired"), Math.max(0, deadlineMs - now));
    tickOffer(entry, now);
    renderNoOffers();
  }

  function tickOffer(entry, now) {
    if (entry.ended) return;
    // At the deadline the offer has lapsed: the card goes at once (the server's offer_ended
    // follows, or was lost), never left showing "1 s left" next to the next agent's card.
    if (now >= entry.deadlineMs) {
      endOffer(entry.offer.offer_id, "expired");
      return;
    }
    const left = Math.max(0, Math.ceil((entry.deadlineMs - now) / 1000));
    const countdown = entry.el.querySelector(".countdown");
    countdown.textContent = t("seconds_left", { n: left });
    countdown.dataset.seconds = String(left);
    entry.el.classList.toggle("urgent", left <= 5);
    const waited = Number(entry.offer.waiting_s ?? 0) + (now - entry.receivedMs) / 1000;
    entry.el.querySelector(".offer-waiting").textContent = t("waiting", { time: formatDuration(waited) });
  }

  setInterval(() => {
    const now = Date.now();
    for (const entry of state.offers.values()) tickOffer(entry, now);
  }, 1000);

  // An ended offer's card goes at once; why it ended (other than the agent's own answer) is
  // said in a notice.
  function endOffer(offerId, reason) {
    const key = String(offerId);
    const entry = state.offers.get(key);
    if (!entry || entry.ended) return;
    entry.ended = true;
    clearTimeout(entry.timer);
    entry.el.remove();
    if (state.offers.get(key) === entry) state.offers.delete(key);
    renderNoOffers();
    if (reason !== "accepted" && reason !== "declined") {
      showNotice(TEXTS[`offer_${reason}`] ? t(`offer_${reason}`) : reason);
    }
  }

  async function answerOffer(entry, action) {
    if (entry.ended) return;
    entry.el.querySelectorAll("button").forEach((button) => {
      button.disabled = true;
    });
    const { offer_id: offerId, ticket_id: ticketId } = entry.offer;
    try {
      await api("POST", `/api/v1/agent/offers/${encodeURIComponent(offerId)}/${action}`);
      endOffer(offerId, action === "accept" ? "accepted" : "declined");
      if (action === "accept") {
        await refreshChats();
        openChat(ticketId);
      }
    } catch (exc) {
      if (exc.status === 409) {
        endOffer(offerId, exc.message); // the reason: taken, expired, ...
      } else {
        showError(exc);
        if (!entry.ended) {
          entry.el.querySelectorAll("button").forEach((button) => {
            button.disabled = false;
          });
        }
      }
    }
  }

  function renderNoOffers() {
    el.noOffers.hidden = el.offers.querySelector(".offer:not(.ended)") !== null;
    renderTitle();
  }

  // What GET /me says replaces what we had (the push may have missed some while offline),
  // except offers pushed after the request went out: /me did not know them yet.
  function syncOffers(offers, askedMs) {
    const live = new Set(offers.map((offer) => String(offer.offer_id)));
    for (const [offerId, entry] of state.offers) {
      const olderThanAnswer = entry.receivedMs < askedMs;
      if (!live.has(offerId) && !entry.ended && olderThanAnswer) endOffer(offerId, "expired");
    }
    for (const offer of offers) {
      const entry = state.offers.get(String(offer.offer_id));
      if (!entry || !entry.ended) addOffer(offer);
    }
    renderNoOffers();
  }

  // ---------------------------------------------------------------- 6. chats list

  function messagePreview(message) {
    if (!message) return "";
    if (message.kind === "file" && message.file) return `📎 ${message.file.name}`;
    return message.text || "";
  }

  // A web visitor's presence (null for channels where it is not known, like Telegram).
  function presenceDot(chat) {
    if (chat.customer_online === null || chat.customer_online === undefined) return null;
    const here = chat.customer_online === true;
    const label = t(here ? "customer_here" : "customer_gone");
    return h("span", { class: `presence ${here ? "here" : "gone"}`, title: label, "aria-label": label }, "●");
  }

  function renderChats() {
    el.chats.replaceChildren(
      ...state.chats.map((chat) => {
        const unread = state.unread.get(chat.ticket_id) || 0;
        return h(
          "li",
          {
            class: `chat${chat.ticket_id === state.openId ? " open" : ""}${unread ? " unread" : ""}`,
            dataset: { ticketId: chat.ticket_id, channel: chat.channel, state: chat.state },
            tabindex: "0",
            role: "button",
            onclick: () => openChat(chat.ticket_id),
            onkeydown: (event) => {
              if (event.key === "Enter" || event.key === " ") {
                event.preventDefault();
                openChat(chat.ticket_id);
              }
            },
          },
          h(
            "div",
            { class: "chat-line" },
            h("strong", { class: "chat-name", dir: "auto" }, (chat.customer && chat.customer.name) || `#${chat.ticket_id}`),
            h("span", { class: `channel channel-${chat.channel}` }, value("channel", chat.channel)),
            presenceDot(chat),
            unread
              ? h(
                  "span",
                  { class: "unread-badge", title: t("unread_count", { count: unread }), dataset: { count: unread } },
                  String(unread),
                )
              : null,
          ),
          h("div", { class: "chat-preview muted", dir: "auto" }, messagePreview(chat.last_message)),
          h(
            "div",
            { class: "chat-info muted" },
            h("bdi", {}, `#${chat.ticket_id}`),
            ` · ${value("priority", chat.priority)} · `,
            h("bdi", {}, chat.category || t("no_category")),
          ),
        );
      }),
    );
    el.noChats.hidden = state.chats.length > 0;
    renderTitle();
  }

  async function refreshChats() {
    try {
      const data = await api("GET", "/api/v1/agent/chats");
      setChats(data.chats || []);
    } catch (exc) {
      showError(exc);
    }
  }

  function setChats(chats) {
    state.chats = chats;
    const ids = new Set(chats.map((chat) => chat.ticket_id));
    for (const id of [...state.unread.keys()]) if (!ids.has(id)) state.unread.delete(id);
    // The load is the number of open chats: keep the top bar in step without another request.
    if (state.agent) renderAgent({ ...state.agent, load: chats.length });
    renderChats();
    // The open chat went away (closed, transferred, the customer left): say so, clear the view.
    if (state.openId !== null && !ids.has(state.openId)) {
      closeView();
      showNotice(t("chat_gone"));
    }
  }

  // GET /me: the agent, its offers and its chats in one answer.
  async function refreshMe() {
    try {
      const askedMs = Date.now();
      const data = await api("GET", "/api/v1/agent/me");
      renderAgent(data.agent);
      syncOffers(data.offers || [], askedMs);
      setChats(data.chats || []);
    } catch (exc) {
      showError(exc);
    }
  }

  // ---------------------------------------------------------------- 7. the open chat

  const SENDER_LABELS = { customer: "customer", bot: "bot", agent: "agent", system: "system" };

  function messageNode(message) {
    const sender = SENDER_LABELS[message.sender] ? message.sender : "system";
    let who = t(SENDER_LABELS[sender]);
    if (sender === "agent" && message.agent) who = message.agent;
    if (sender === "customer") {
      const chat = state.chats.find((c) => c.ticket_id === state.openId);
      if (chat && chat.customer && chat.customer.name) who = chat.customer.name;
    }
    let body;
    if (message.kind === "file" && message.file) {
      body = h(
        "div",
        { class: "msg-file" },
        h("a", { href: message.file.url, download: message.file.name, target: "_blank", rel: "noopener" }, `📎 ${message.file.name}`),
        message.file.size ? h("span", { class: "muted" }, ` (${Math.ceil(message.file.size / 1024)} KB)`) : null,
      );
    }
    return h(
      "div",
      { class: `msg msg-${sender}`, dataset: { id: message.id, sender } },
      h("div", { class: "msg-meta muted" }, h("span", { class: "msg-who", dir: "auto" }, who), " ", h("time", { datetime: message.created_at || "" }, formatTime(message.created_at))),
      message.text ? h("div", { class: "msg-text", dir: "auto" }, message.text) : null,
      body,
    );
  }

  // Adds a message to #transcript once, in id order, and scrolls down if the agent was at the end.
  function appendMessage(message) {
    if (message.id === undefined || message.id === null || state.shownIds.has(message.id)) return;
    state.shownIds.add(message.id);
    const box = el.transcript;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const node = messageNode(message);
    const later = Array.from(box.children).find((child) => Number(child.dataset.id) > Number(message.id));
    box.insertBefore(node, later || null);
    if (atEnd || !later) box.scrollTop = box.scrollHeight;
  }

  function noteNode(note) {
    return h(
      "div",
      { class: "note", dataset: { id: note.id } },
      h("div", { class: "note-meta muted" }, h("span", { dir: "auto" }, note.agent || ""), " ", h("time", { datetime: note.created_at || "" }, formatTime(note.created_at))),
      h("div", { class: "note-text", dir: "auto" }, note.text),
    );
  }

  function renderNotes(notes) {
    el.notes.replaceChildren(...notes.map(noteNode));
    if (!notes.length) el.notes.append(h("p", { class: "muted no-notes" }, t("no_notes")));
  }

  function renderChatHead(chat) {
    // agent_actions.js shows the chat's priority and tags in its tools.
    document.dispatchEvent(new CustomEvent("sanad:chat", { detail: chat }));
    el.chatCustomer.textContent = (chat.customer && chat.customer.name) || `#${chat.ticket_id}`;
    const profile = $("chat-profile");
    if (profile && chat.customer) profile.href = `/customers/${chat.customer.id}`;
    el.chatMeta.replaceChildren(
      h("span", { class: `channel channel-${chat.channel}` }, value("channel", chat.channel)),
      " ",
      h("bdi", {}, `#${chat.ticket_id}`),
      ` · ${t("priority")}: `,
      h("span", { class: "chat-priority" }, value("priority", chat.priority)),
      ` · ${t("category")}: `,
      h("bdi", {}, chat.category || t("no_category")),
      chat.language ? ` · ${value("language", chat.language)}` : "",
    );
  }

  // Opens a chat (or reloads the open one after a reconnect: then it only adds what is new).
  async function openChat(ticketId, { reload = false } = {}) {
    const switching = ticketId !== state.openId;
    const generation = ++state.openGeneration;
    if (switching) {
      state.openId = ticketId;
      state.shownIds = new Set();
      el.transcript.replaceChildren();
      el.notes.replaceChildren();
      if (!(state.pendingReply && state.pendingReply.ticketId === ticketId)) el.replyText.value = "";
      setReplyStatus("");
    }
    state.unread.delete(ticketId);
    el.pickChat.hidden = true;
    el.chatView.hidden = false;
    renderChats();
    try {
      const data = await api("GET", `/api/v1/agent/chats/${encodeURIComponent(ticketId)}`);
      if (generation !== state.openGeneration) return; // the agent opened another chat meanwhile
      renderChatHead(data.chat);
      (data.messages || []).forEach(appendMessage);
      renderNotes(data.notes || []);
      if (switching && !reload) el.replyText.focus();
    } catch (exc) {
      if (generation !== state.openGeneration) return;
      showError(exc);
      if (exc.status === 404 || exc.status === 403) closeView();
    }
  }

  // After an action on the open chat (agent_actions.js): show it again as stored.
  document.addEventListener("sanad:reload-chat", () => {
    if (state.openId !== null) openChat(state.openId, { reload: true });
  });

  function closeView() {
    state.openId = null;
    state.openGeneration++;
    state.shownIds = new Set();
    el.transcript.replaceChildren();
    el.notes.replaceChildren();
    el.chatView.hidden = true;
    el.pickChat.hidden = false;
    renderChats();
  }

  // A message pushed by the server (or answered by our own POST): show it or mark it unread.
  function receiveMessage(ticketId, message) {
    const chat = state.chats.find((c) => c.ticket_id === ticketId);
    if (chat) chat.last_message = message;
    if (ticketId === state.openId) {
      appendMessage(message);
      if (!chat) renderChats();
    } else if (message.sender !== "agent") {
      state.unread.set(ticketId, (state.unread.get(ticketId) || 0) + 1);
    }
    if (message.sender === "customer" && (ticketId !== state.openId || document.hidden)) {
      const name = (chat && chat.customer && chat.customer.name) || `#${ticketId}`;
      alertAgent(t("alert_message", { name }), messagePreview(message), `message-${ticketId}`);
    }
    if (!chat) refreshChats(); // a chat we do not know yet
    else renderChats();
  }

  // --- reply: Enter sends; a network failure keeps the text and retries with the same client_id.
  let retryTimer = null;
  let retryDelayMs = 1000;

  function setReplyStatus(text, kind = "") {
    el.replyStatus.textContent = text;
    el.replyStatus.className = kind || "muted";
  }

  function sendReply() {
    const text = el.replyText.value.trim();
    if (!text || state.openId === null) return;
    let pending = state.pendingReply;
    // Same text for the same chat: the same client_id, so the server sends it at most once.
    if (!pending || pending.ticketId !== state.openId || pending.text !== text) {
      pending = { ticketId: state.openId, text, clientId: randomId() };
      state.pendingReply = pending;
    }
    clearTimeout(retryTimer);
    postReply(pending);
  }

  async function postReply(pending) {
    if (pending.inFlight) return;
    pending.inFlight = true;
    el.replySend.disabled = true;
    setReplyStatus(t("sending"));
    try {
      // Over the open socket when there is one (no request, no token check per line), else
      // posted; either way the same client_id, so a line sent both ways is kept once.
      const data =
        (await sayOverSocket(pending)) ||
        (await api("POST", `/api/v1/agent/chats/${encodeURIComponent(pending.ticketId)}/messages`, {
          text: pending.text,
          client_id: pending.clientId,
        }));
      if (state.pendingReply === pending) state.pendingReply = null;
      retryDelayMs = 1000;
      setReplyStatus("");
      if (state.openId === pending.ticketId && el.replyText.value.trim() === pending.text) el.replyText.value = "";
      if (data.message) receiveMessage(pending.ticketId, data.message);
    } catch (exc) {
      // No answer, or a proxy in between timed out: try again, same client_id (sent once).
      const transient = exc.network || [502, 503, 504].includes(exc.status);
      if (transient && state.pendingReply === pending) {
        setReplyStatus(t("retrying"), "error");
        retryTimer = setTimeout(() => {
          if (state.pendingReply === pending) postReply(pending);
        }, retryDelayMs);
        retryDelayMs = Math.min(retryDelayMs * 2, 5000);
      } else {
        // Refused by the server: keep the text so the agent can fix it; a new try gets a new id.
        if (state.pendingReply === pending) state.pendingReply = null;
        setReplyStatus("");
        showError(exc);
      }
    } finally {
      pending.inFlight = false;
      el.replySend.disabled = false;
    }
  }

  // A line over the push socket: resolves with {message} when the server says "said", throws
  // an ApiError when it says "refused" (its status) or when no answer comes in time or the
  // socket closes (network: the caller retries, same client_id). Null: no open socket.
  const SAY_TIMEOUT_MS = 10000;
  function sayOverSocket(pending) {
    const frame = { type: "say", ticket_id: pending.ticketId, text: pending.text, client_id: pending.clientId };
    if (!state.link || !state.link.send(frame)) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settleSaying(pending.clientId, null, new ApiError(t("retrying"), 0, true)), SAY_TIMEOUT_MS);
      state.saying.set(pending.clientId, {
        done(data) {
          clearTimeout(timer);
          resolve(data);
        },
        failed(exc) {
          clearTimeout(timer);
          reject(exc);
        },
      });
    });
  }

  function settleSaying(clientId, data, exc) {
    const waiting = state.saying.get(clientId);
    if (!waiting) return;
    state.saying.delete(clientId);
    if (exc) waiting.failed(exc);
    else waiting.done(data);
  }

  // The socket closed: its unanswered lines are retried (over the next socket or posted).
  function socketLost() {
    for (const clientId of [...state.saying.keys()]) settleSaying(clientId, null, new ApiError(t("retrying"), 0, true));
  }

  // An agent's file for the customer: posted as multipart; it comes back as a file message.
  el.replyFile.addEventListener("change", async () => {
    const file = el.replyFile.files[0];
    el.replyFile.value = "";
    if (!file || state.openId === null) return;
    const ticketId = state.openId;
    const form = new FormData();
    form.append("client_id", `f${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
    form.append("file", file, file.name);
    setReplyStatus(t("sending"));
    try {
      const data = await api("POST", `/api/v1/agent/chats/${encodeURIComponent(ticketId)}/files`, form);
      if (data.message) receiveMessage(ticketId, data.message);
      setReplyStatus("");
    } catch (exc) {
      setReplyStatus("");
      showError(exc);
    }
  });

  el.replySend.addEventListener("click", sendReply);
  el.replyText.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
    }
  });

  // --- canned replies: the list comes at start and again whenever an admin changes it (a
  // "canned" push); choosing one puts it, filled in for this customer, into the reply box at
  // the cursor for the agent to edit and send (nothing is sent on the pick).
  async function loadCanned() {
    try {
      const data = await api("GET", "/api/v1/agent/canned");
      const options = (data.canned || []).map((item) => {
        const preview = item.text.length > 60 ? `${item.text.slice(0, 60)}…` : item.text;
        const language = item.lang ? ` [${value("language", item.lang)}]` : "";
        return h("option", { value: item.shortcut, dataset: { lang: item.lang || "" }, dir: "auto" }, `${item.shortcut}${language}: ${preview}`);
      });
      el.canned.replaceChildren(h("option", { value: "" }, t("canned")), ...options);
    } catch (exc) {
      showError(exc);
    }
  }

  function insertIntoReply(text) {
    const box = el.replyText;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.setRangeText(text, start, end, "end");
    box.focus();
  }

  el.canned.addEventListener("change", async () => {
    const shortcut = el.canned.value;
    const ticketId = state.openId;
    el.canned.value = "";
    if (!shortcut || ticketId === null) return;
    try {
      const path = `/api/v1/agent/chats/${encodeURIComponent(ticketId)}/canned/${encodeURIComponent(shortcut)}`;
      const data = await api("GET", path);
      if (state.openId === ticketId && data.text) insertIntoReply(data.text);
    } catch (exc) {
      showError(exc);
    }
  });

  // --- notes: only for agents, shown in yellow.
  async function addNote() {
    const text = el.noteText.value.trim();
    const ticketId = state.openId;
    if (!text || ticketId === null) return;
    el.noteAdd.disabled = true;
    try {
      const data = await api("POST", `/api/v1/agent/chats/${encodeURIComponent(ticketId)}/notes`, { text });
      if (state.openId === ticketId && data.note) {
        el.notes.querySelector(".no-notes")?.remove();
        el.notes.append(noteNode(data.note));
        el.noteText.value = "";
      }
    } catch (exc) {
      showError(exc);
    } finally {
      el.noteAdd.disabled = false;
    }
  }

  el.noteAdd.addEventListener("click", addNote);
  el.noteText.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      addNote();
    }
  });

  // --- transfer: a dialog listing agents and categories.
  el.transferOpen.addEventListener("click", async () => {
    if (state.openId === null) return;
    try {
      const data = await api("GET", `/api/v1/agent/transfer-targets?ticket_id=${encodeURIComponent(state.openId)}`);
      const me = state.agent ? state.agent.id : null;
      const agents = (data.agents || []).filter((agent) => agent.id !== me);
      const categories = data.categories || [];
      const groups = [];
      if (agents.length) {
        groups.push(
          h(
            "optgroup",
            { label: t("transfer_agents") },
            agents.map((agent) => h("option", { value: `agent:${agent.id}` }, `${agent.name} (${value("status", agent.status)})`)),
          ),
        );
      }
      if (categories.length) {
        groups.push(
          h(
            "optgroup",
            { label: t("transfer_categories") },
            categories.map((category) => h("option", { value: `category:${category}` }, category)),
          ),
        );
      }
      if (!groups.length) {
        showNotice(t("transfer_none"));
        return;
      }
      el.transferTarget.replaceChildren(...groups);
      el.transferDialog.showModal();
    } catch (exc) {
      showError(exc);
    }
  });

  el.transferDialog.addEventListener("close", async () => {
    if (el.transferDialog.returnValue !== "ok") return;
    el.transferDialog.returnValue = "";
    const ticketId = state.openId;
    const [kind, ...rest] = el.transferTarget.value.split(":");
    const value = rest.join(":");
    if (ticketId === null || !value) return;
    const body = kind === "agent" ? { agent_id: Number(value) } : { category: value };
    try {
      await api("POST", `/api/v1/agent/chats/${encodeURIComponent(ticketId)}/transfer`, body);
      if (state.openId === ticketId) closeView();
      showNotice(t("transferred"));
      refreshChats();
    } catch (exc) {
      showError(exc);
    }
  });

  // --- close: ends the chat (the customer gets the rating).
  el.closeChat.addEventListener("click", async () => {
    const ticketId = state.openId;
    if (ticketId === null) return;
    el.closeChat.disabled = true;
    try {
      await api("POST", `/api/v1/agent/chats/${encodeURIComponent(ticketId)}/close`);
      if (state.openId === ticketId) closeView();
      showNotice(t("closed"));
      refreshChats();
    } catch (exc) {
      showError(exc);
    } finally {
      el.closeChat.disabled = false;
    }
  });

  // ---------------------------------------------------------------- 7b. alerts and activity
  // A new offer, or a customer's line in a chat not in view (or with the tab hidden): a short
  // beep (WebAudio, unless muted) and a desktop notification (once allowed from the bell
  // button, a user gesture). The tab title counts pending work: live offers + unread lines.

  const BASE_TITLE = document.title;
  const MUTE_KEY = "sanad.console.mute";
  let audio = null; // AudioContext, made (or resumed) from a user gesture

  function storedMute() {
    try {
      return window.localStorage.getItem(MUTE_KEY) === "1";
    } catch {
      return false;
    }
  }

  function pendingWork() {
    let offers = 0;
    for (const entry of state.offers.values()) if (!entry.ended) offers += 1;
    let unread = 0;
    for (const count of state.unread.values()) unread += count;
    return offers + unread;
  }

  function renderTitle() {
    const n = pendingWork();
    const title = n > 0 ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
    if (document.title !== title) document.title = title;
  }

  function beep() {
    if (el.alertsMute && el.alertsMute.checked) return;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audio = audio || new Context();
      if (audio.state === "suspended") audio.resume();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.3);
    } catch {
      // no sound is better than a broken console
    }
  }

  function alertAgent(title, body, tag) {
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const note = new Notification(title, { body, tag, lang: cfg.lang });
      note.onclick = () => {
        window.focus();
        note.close();
      };
    } catch {
      // some browsers only allow notifications from a service worker: the title still counts
    }
  }

  function renderAlerts() {
    if (!el.alertsEnable) return;
    const supported = "Notification" in window;
    const permission = supported ? Notification.permission : "denied";
    el.alertsEnable.dataset.permission = permission;
    el.alertsEnable.textContent = "🔔 " + t(permission === "granted" ? "alerts_on" : permission === "denied" ? "alerts_blocked" : "alerts_enable");
    el.alertsEnable.disabled = permission !== "default";
  }

  if (el.alertsEnable) {
    el.alertsEnable.addEventListener("click", async () => {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (Context && !audio) audio = new Context(); // unlocked by this gesture
      if ("Notification" in window && Notification.permission === "default") {
        try {
          await Notification.requestPermission();
        } catch {
          // an old callback-only API: the state is read again below
        }
      }
      renderAlerts();
    });
  }
  if (el.alertsMute) {
    el.alertsMute.checked = storedMute();
    el.alertsMute.addEventListener("change", () => {
      try {
        window.localStorage.setItem(MUTE_KEY, el.alertsMute.checked ? "1" : "0");
      } catch {
        // private mode: the switch still works for this page
      }
    });
  }

  // Activity (pointer, keys, the tab shown) tells the server the agent is here: at most one
  // frame per ACTIVITY_MS, so the server's idle auto-away sees a live console.
  const ACTIVITY_MS = 30000;
  let lastActivity = 0;
  function reportActivity() {
    if (document.hidden) return;
    const now = Date.now();
    if (now - lastActivity < ACTIVITY_MS) return;
    if (state.link && state.link.send({ type: "activity" })) lastActivity = now;
  }
  for (const name of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
    window.addEventListener(name, reportActivity, { passive: true });
  }
  document.addEventListener("visibilitychange", () => {
    reportActivity();
    renderTitle();
  });

  // ---------------------------------------------------------------- 8. the push socket

  function setConnection(which) {
    el.connection.dataset.state = which;
    el.connection.textContent = t(which);
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
      case "agent":
        renderAgent(frame.agent);
        break;
      case "offer": {
        const known = state.offers.has(String(frame.offer.offer_id));
        addOffer(frame.offer);
        if (!known) {
          const name = frame.offer.customer_name || `#${frame.offer.ticket_id}`;
          alertAgent(t("alert_offer"), t("alert_offer_body", { name }), `offer-${frame.offer.offer_id}`);
        }
        break;
      }
      case "offer_ended":
        endOffer(frame.offer_id, frame.reason);
        break;
      case "message":
        receiveMessage(frame.ticket_id, frame.message);
        break;
      case "chats":
        refreshChats();
        break;
      case "notice":
        // A notice the page knows is said in its language; another one as the server wrote it.
        showNotice(frame.kind && TEXTS[`notice_${frame.kind}`] ? t(`notice_${frame.kind}`, noticeFacts(frame.data)) : frame.text);
        break;
      case "canned":
        loadCanned();
        break;
      case "said":
        settleSaying(frame.client_id, { message: frame.message }, null);
        break;
      case "refused":
        settleSaying(frame.client_id, null, new ApiError(frame.message, frame.status));
        break;
      case "pong":
        break;
      default:
        break; // a newer server may send more; ignore what we do not know
    }
  }

  function connect() {
    setConnection("connecting");
    state.link = window.sanadSocket("/agent/ws", {
      onOpen(socket, again) {
        state.link.connected();
        setConnection("connected");
        // Whatever happened while we were not listening (or before the first connect): fetch it.
        refreshMe();
        if (again) {
          if (state.openId !== null) openChat(state.openId, { reload: true });
          if (state.pendingReply && !state.pendingReply.inFlight) postReply(state.pendingReply);
        }
      },
      onFrame: handleFrame,
      onClose() {
        socketLost();
        setConnection("reconnecting");
      },
    });
  }

  // For tests and for poking around in the browser's console.
  window.sanadConsole = {
    get socket() {
      return state.link && state.link.socket;
    },
    state,
  };

  // ---------------------------------------------------------------- 9. start
  renderAgent(state.agent);
  renderAlerts();
  renderNoOffers();
  renderChats();
  connect();
  refreshMe();
  loadCanned();
})();
