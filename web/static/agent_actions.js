// The open chat's tools in the console: priority, tags, waiting on the customer, hand back to
// the bot. Each is one POST to /api/v1/tickets/{id}/actions (the core checks that the chat is
// the agent's); agent.js shows the chat again after it (the "sanad:reload-chat" event) and
// tells these tools what the chat is now (the "sanad:chat" event).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const tools = $("chat-tools");
  if (!tools) return;
  const send = window.sanadFetch || ((url, opts) => fetch(url, { credentials: "same-origin", ...opts }));
  const priority = $("chat-priority");
  const tags = $("chat-tags");
  const tagText = $("tag-text");
  const pending = $("chat-pending");
  const link = $("chat-ticket-link");
  const banner = $("console-error");
  let chat = null;

  function fail(text) {
    if (!banner) return;
    banner.querySelector(".banner-text").textContent = text;
    banner.hidden = false;
  }

  async function act(body) {
    if (!chat) return;
    let response;
    try {
      response = await send(`/api/v1/tickets/${encodeURIComponent(chat.ticket_id)}/actions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (exc) {
      fail(String(exc.message || exc));
      return;
    }
    if (!response.ok) {
      let text = `HTTP ${response.status}`;
      try {
        text = (await response.json()).error || text;
      } catch {
        /* keep the status */
      }
      fail(text);
      return;
    }
    document.dispatchEvent(new CustomEvent("sanad:reload-chat"));
  }

  function renderTags(list) {
    tags.replaceChildren(
      ...list.map((tag) => {
        const chip = document.createElement("span");
        chip.className = "tag";
        const name = document.createElement("bdi");
        name.textContent = tag;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link untag";
        remove.textContent = "×";
        remove.setAttribute("aria-label", `${tags.dataset.remove} ${tag}`);
        remove.addEventListener("click", () => act({ action: "untag", tag }));
        chip.append(name, " ", remove);
        return chip;
      }),
    );
  }

  document.addEventListener("sanad:chat", (event) => {
    chat = event.detail;
    priority.value = chat.priority;
    renderTags(chat.tags || []);
    pending.disabled = chat.state !== "assigned";
    link.href = `/tickets/${encodeURIComponent(chat.ticket_id)}`;
  });
  priority.addEventListener("change", () => act({ action: "priority", priority: priority.value }));
  $("tag-add").addEventListener("click", () => {
    const tag = tagText.value.trim();
    if (!tag) return;
    tagText.value = "";
    act({ action: "tag", tag });
  });
  tagText.addEventListener("keydown", (event) => {
    if (event.key === "Enter") $("tag-add").click();
  });
  pending.addEventListener("click", () => act({ action: "pending" }));
  $("chat-hand-back").addEventListener("click", () => act({ action: "hand_back" }));
})();
