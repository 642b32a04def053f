// The ticket page's actions and live watch. Every action is one POST to
// /api/v1/tickets/{id}/actions (the server decides who may); the page reloads to show the
// result. A supervisor watching a live chat gets its new lines every two seconds.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const post = window.sanadFetch || ((url, opts) => fetch(url, { credentials: "same-origin", ...opts }));
  const box = $("ticket-actions");
  const errorBox = $("action-error");

  function showError(text) {
    if (!errorBox) return;
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  async function act(ticketId, body) {
    let response;
    try {
      response = await post(`/api/v1/tickets/${ticketId}/actions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (exc) {
      showError(String(exc.message || exc));
      return;
    }
    if (response.ok) {
      window.location.reload();
      return;
    }
    let text = `HTTP ${response.status}`;
    try {
      const data = await response.json();
      text = data.detail || data.error || data.title || text;
    } catch {
      /* not JSON: keep the status */
    }
    showError(text);
  }

  function bodyFor(action) {
    switch (action) {
      case "priority":
        return { action, priority: $("action-priority").value };
      case "tag":
        return { action, tag: $("action-tag").value };
      case "note":
        return { action, text: $("action-note").value };
      case "transfer": {
        const [kind, ...rest] = $("action-transfer").value.split(":");
        const target = rest.join(":");
        return kind === "agent" ? { action, agent_id: Number(target) } : { action, category: target };
      }
      default:
        return { action };
    }
  }

  if (box) {
    const ticketId = box.dataset.ticket;
    box.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      button.disabled = true;
      act(ticketId, bodyFor(button.dataset.action)).finally(() => {
        button.disabled = false;
      });
    });
    document.querySelectorAll("button.untag").forEach((button) =>
      button.addEventListener("click", () => act(ticketId, { action: "untag", tag: button.dataset.tag })),
    );
  }

  // --- watching a live chat (supervisors)
  const table = $("ticket-transcript");
  if (!table || !table.dataset.watch) return;
  const config = JSON.parse(($("ticket-config") || {}).textContent || "{}");
  const senders = config.senders || {};
  const stateNote = $("watch-state");
  let after = Number(table.dataset.after || 0);

  function cell(text, attrs = {}) {
    const td = document.createElement("td");
    Object.entries(attrs).forEach(([k, v]) => td.setAttribute(k, v));
    td.textContent = text;
    return td;
  }

  async function poll() {
    try {
      const response = await fetch(`/api/v1/tickets/${table.dataset.watch}/watch?after=${after}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const data = await response.json();
        for (const m of data.messages) {
          const row = document.createElement("tr");
          row.className = `msg msg-${m.sender} watched`;
          row.append(cell(new Date(m.created_at).toISOString().slice(0, 16).replace("T", " "), { class: "muted", dir: "ltr" }));
          row.append(cell(senders[m.sender] || m.sender, { class: "sender" }));
          row.append(cell(m.text, { dir: "auto" }));
          table.append(row);
          after = Math.max(after, m.id);
        }
        if (stateNote) stateNote.textContent = `· ${stateNote.dataset.live}`;
      }
    } catch {
      /* a lost answer: the next poll asks again from the same line */
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
