// The workspace event stream over one WebSocket, resumable by sequence number.
// On a dropped connection it reconnects with exponential backoff (0.5 s .. 15 s, with jitter) and asks
// for `after=<last seen seq>`; the server replays what was missed from the database. No polling.
export class LiveEvents {
  constructor({ after, onEvent, onTyping, onStatus }) {
    this.last = after;
    this.onEvent = onEvent;
    this.onTyping = onTyping || (() => {});
    this.onStatus = onStatus || (() => {});
    this.attempt = 0;
    this.socket = null;
    this.closedByUs = false;
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const after = this.last === null || this.last === undefined ? "" : `?after=${this.last}`;
    return `${proto}//${location.host}/api/v1/realtime${after}`;
  }

  connect() {
    this.onStatus("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (msg) => this.receive(msg.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket || this.closedByUs) return;
      this.onStatus("offline");
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type === "hello") {
      this.last = event.seq;
      this.attempt = 0;
      this.onStatus("live");
      return;
    }
    if (event.type === "pong") return;
    if (event.type === "typing") {
      this.onTyping(event.payload);
      return;
    }
    if (typeof event.seq === "number") {
      if (this.last !== null && event.seq <= this.last) return;
      this.last = event.seq;
      this.onEvent(event);
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  // Used by tests and by "reconnect now": drop the socket; the close handler reconnects.
  drop() {
    this.socket?.close();
  }
}
