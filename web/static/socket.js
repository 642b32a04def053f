// Sanad's pages' WebSocket: one connection to a path of this site that comes back by itself.
//
//   const link = sanadSocket("/chat/ws", { onOpen, onFrame, onClose });
//   link.send({ type: "message", ... });   // false when not connected (nothing is queued here)
//   link.socket                            // the WebSocket of the moment (tests close it)
//   link.connected()                       // call once the server has said hello: backoff resets
//
// After a close it reconnects, waiting 0.5 s and doubling up to 5 s; while open it pings every
// 25 s so proxies keep the connection. What to resend or fetch again after a reconnect is the
// page's business: onOpen(socket, again) tells it whether this is a reconnect.
window.sanadSocket = function sanadSocket(path, { onOpen, onFrame, onClose } = {}) {
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 5000;
  const PING_MS = 25000;
  let backoff = BACKOFF_MIN_MS;
  let current = null;
  let opened = false;
  let pingTimer = null;

  function send(frame) {
    if (!current || current.readyState !== WebSocket.OPEN) return false;
    current.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    current = socket;
    socket.addEventListener("open", () => {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), PING_MS);
      const again = opened;
      opened = true;
      if (onOpen) onOpen(socket, again);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not ours: the server only sends JSON objects
      }
      if (onFrame) onFrame(frame);
    });
    socket.addEventListener("close", () => {
      clearInterval(pingTimer);
      if (current !== socket) return; // an old socket, already replaced
      if (onClose) onClose();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    });
    // An error is always followed by close, which reconnects.
  }

  connect();
  return {
    get socket() {
      return current;
    },
    send,
    connected() {
      backoff = BACKOFF_MIN_MS;
    },
  };
};
