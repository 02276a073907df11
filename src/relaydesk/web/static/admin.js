// Admin pages: the live inbox health line. The health line refreshes when the
// workspace event stream reports traffic (a message arrived, an inbox changed); it never polls.
import { api } from "./common.js";
import { LiveEvents } from "./realtime.js";
import "./live_preview.js";

function renderHealth(item) {
  const cell = document.getElementById(`health-${item.id}`);
  if (!cell) return;
  const event = cell.querySelector(".last-event");
  const error = cell.querySelector(".last-error");
  event.textContent = item.last_event_at
    ? `Last event received ${new Date(item.last_event_at).toLocaleString()}`
    : "No event received yet";
  error.textContent = item.last_error
    ? `Last error ${new Date(item.last_error_at).toLocaleString()}: ${item.last_error}`
    : "No errors";
  error.classList.toggle("health-error", Boolean(item.last_error));
  const failed = cell.querySelector(".failed-events");
  failed.hidden = !item.failed_events;
  failed.textContent = `${item.failed_events} inbound event(s) could not be processed`;
  renderReceiver(cell.querySelector(".receiver"), item.receiver);
}

// The background receiver's line (IMAP mailboxes): state and last completed check (its errors are the
// inbox's last error, above).
function renderReceiver(span, receiver) {
  if (!span) return;
  span.hidden = !receiver;
  span.replaceChildren();
  if (!receiver) return;
  const when = (iso) => new Date(iso).toLocaleString();
  const state = document.createElement("span");
  state.className = "receiver-state";
  state.classList.toggle("health-error", receiver.state === "disconnected");
  state.textContent = `Mailbox ${receiver.state}` + (receiver.last_sync_at ? `, last checked ${when(receiver.last_sync_at)}` : "");
  span.append(document.createElement("br"), state);
}

for (const time of document.querySelectorAll(".health time")) {
  time.textContent = new Date(time.dateTime).toLocaleString();
}

if (document.querySelector("[data-inbox]")) {
  let timer = null;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const data = await api("GET", "/admin/inboxes/health");
      data.items.forEach(renderHealth);
    }, 100);
  };
  new LiveEvents({
    after: null,
    onEvent: (e) => {
      if (e.type.startsWith("message.") || e.type.startsWith("inbox.") || e.type.startsWith("conversation.")) refresh();
    },
  }).connect();
}
