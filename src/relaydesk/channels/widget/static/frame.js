// The Relaydesk chat, inside its iframe on Relaydesk's origin (docs/widget.md).
//
// Talks to the host page's loader by postMessage (only with the parent window, only at the host origin
// the server allowed), to Relaydesk by REST and one WebSocket. The visitor token travels in a header or the
// socket's first frame, never in a URL. It is kept in this origin's localStorage only when the visitor's
// browser sends neither Do Not Track nor Global Privacy Control; otherwise in memory, for this page only.
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const HOST = boot.host;
const BASE = `/widget/${encodeURIComponent(boot.id)}`;
const STORE_KEY = `relaydesk:${boot.id}:token`;
const $ = (id) => document.getElementById(id);
// Every text shown comes from the inbox's strings table in the visitor's language (strings.py).
const TEXTS = boot.texts || {};
const t = (key, vars) =>
  (TEXTS[key] || key).replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? vars[name] : ""));

const state = {
  token: null,
  persistent: false,
  privacy: false,
  identity: null,
  attributes: {},
  seq: 0,
  socket: null,
  attempt: 0,
  messages: new Map(), // id or client_msg_id -> message
  conversations: [],
  open: false, // an unresolved conversation exists
  outbox: new Map(), // client_msg_id -> {text, prechat}
  typingSentAt: 0,
  typingTimer: null,
  agentTyping: null,
  started: false,
  visible: true, // the frame is made when the visitor opens the chat
  readSent: new Set(),
};

function toParent(message) {
  window.parent.postMessage(message, HOST);
}
function emit(name, data) {
  toParent({ rd: "event", name, data: data || {} });
}

window.addEventListener("message", (event) => {
  if (event.source !== window.parent || event.origin !== HOST) return;
  const data = event.data;
  if (!data || typeof data !== "object") return;
  if (data.rd === "init") {
    state.privacy = data.privacy === true || navigator.doNotTrack === "1" || navigator.globalPrivacyControl === true;
    state.identity = validIdentity(data.identity);
    state.attributes = data.attributes && typeof data.attributes === "object" ? data.attributes : {};
    if (!state.started) start();
  } else if (data.rd === "identify") {
    state.identity = validIdentity(data.identity);
    restart(false);
  } else if (data.rd === "attributes") {
    state.attributes = data.attributes && typeof data.attributes === "object" ? data.attributes : {};
  } else if (data.rd === "reset") {
    state.identity = null;
    state.attributes = {};
    restart(true);
  } else if (data.rd === "focus") {
    state.visible = true;
    $("text").focus();
    markRead();
  } else if (data.rd === "blur") {
    state.visible = false;
  }
});

function validIdentity(identity) {
  if (!identity || typeof identity !== "object") return null;
  if (typeof identity.jwt === "string") return { jwt: identity.jwt };
  if (typeof identity.user_id === "string") {
    return typeof identity.user_hash === "string"
      ? { user_id: identity.user_id, user_hash: identity.user_hash }
      : { user_id: identity.user_id };
  }
  return null;
}

// ---- HTTP ---------------------------------------------------------------------------------------------

async function call(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) }, credentials: "omit", cache: "no-store" };
  if (state.token) init.headers["X-Relaydesk-Visitor"] = state.token;
  if (body instanceof Blob) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error((data.error && data.error.message) || `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return data;
}

function saveToken() {
  if (state.persistent && !state.privacy) localStorage.setItem(STORE_KEY, state.token);
}
function forgetToken() {
  state.token = null;
  try {
    localStorage.removeItem(STORE_KEY);
  } catch (_) {}
}

async function session(useStored) {
  if (useStored && !state.privacy) state.token = localStorage.getItem(STORE_KEY);
  const body = { host: HOST, privacy: state.privacy };
  if (state.identity) body.identity = state.identity;
  try {
    const result = await call("POST", "/api/session", body);
    state.token = result.token;
    state.persistent = result.persistent;
    saveToken();
    emit(result.identified ? "identified" : "session", {});
  } catch (err) {
    if (err.status === 401 && state.token) {
      forgetToken(); // expired or from a rotated secret: a new visitor
      return session(false);
    }
    if (err.status === 403 && state.identity) {
      // A wrong or missing signature: the identity is refused; the visitor may still chat anonymously.
      notice(t("identity_refused"));
      emit("error", { code: "identity_refused" });
      state.identity = null;
      forgetToken();
      return session(false);
    }
    throw err;
  }
}

async function start() {
  state.started = true;
  try {
    await session(true);
    await loadHistory();
    connect();
  } catch (err) {
    showError(err.message);
  }
}

async function restart(forget) {
  if (state.socket) {
    state.socket.onclose = null;
    state.socket.close();
    state.socket = null;
  }
  if (forget) forgetToken();
  state.messages.clear();
  state.outbox.clear();
  state.conversations = [];
  state.seq = 0;
  $("messages").replaceChildren();
  $("notice").hidden = true;
  try {
    await session(!forget);
    await loadHistory();
    connect();
  } catch (err) {
    showError(err.message);
  }
}

async function loadHistory() {
  const data = await call("GET", "/api/messages");
  state.seq = data.seq;
  state.conversations = data.conversations;
  state.open = data.conversations.some((c) => c.status !== "resolved");
  for (const conv of [...data.conversations].reverse()) {
    for (const m of conv.messages) state.messages.set(m.id, m);
  }
  render();
}

// ---- socket -------------------------------------------------------------------------------------------

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${BASE}/ws`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ type: "hello", token: state.token, last_seen_seq: state.seq }));
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401) return restart(true);
    const delay = Math.min(10000, 500 * 2 ** state.attempt++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

function onFrame(frame) {
  if (typeof frame.seq === "number" && frame.seq > state.seq) state.seq = frame.seq;
  switch (frame.type) {
    case "hello":
      state.attempt = 0;
      markRead();
      for (const [id, item] of state.outbox) sendFrame(id, item); // retried: client_msg_id dedupes
      break;
    case "message":
    case "message.updated":
      upsert(frame.message);
      if (frame.type === "message" && frame.message.from !== "visitor") {
        setAgentTyping(null);
        emit("message", { from: frame.message.from });
      }
      break;
    case "ack":
      state.outbox.delete(frame.client_msg_id);
      state.messages.delete(frame.client_msg_id);
      state.open = true;
      upsert(frame.message);
      break;
    case "error":
      if (frame.client_msg_id) failed(frame.client_msg_id, frame.message);
      else showError(frame.message);
      break;
    case "typing":
      setAgentTyping(frame.on ? frame.name || t("someone") : null);
      break;
    case "conversation":
      state.open = frame.conversation.status !== "resolved";
      render();
      break;
  }
}

function upsert(message) {
  if (message.client_msg_id) state.messages.delete(message.client_msg_id);
  state.messages.set(message.id, message);
  render();
}

// ---- sending ------------------------------------------------------------------------------------------

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function prechatValues() {
  const fields = {};
  for (const input of $("prechat-fields").querySelectorAll("input")) {
    if (input.value.trim()) fields[input.name] = input.value.trim();
  }
  for (const field of boot.prechat_fields) {
    const given = state.attributes[field.key];
    if (!fields[field.key] && typeof given === "string" && given.trim()) fields[field.key] = given.trim();
  }
  return {
    fields,
    consent: $("consent").checked,
    consent_version: boot.consent_version,
    adult: boot.age_confirmation ? $("adult").checked : false,
  };
}

function send() {
  const text = $("text").value.trim();
  if (!text) return;
  hideError();
  let prechat = null;
  if (!state.open) {
    if (!$("prechat").reportValidity()) return;
    prechat = prechatValues();
    if (boot.age_confirmation && !prechat.adult) {
      return showError(t("adults_only"));
    }
  }
  const id = newId();
  const item = { text, prechat };
  state.outbox.set(id, item);
  state.messages.set(id, {
    id,
    client_msg_id: id,
    from: "visitor",
    text,
    attachments: [],
    status: "sending",
    created_at: new Date().toISOString(),
  });
  $("text").value = "";
  typing(false);
  render();
  sendFrame(id, item);
}

async function sendFrame(id, item) {
  if (!state.token) return; // still starting: the outbox is sent once the socket says hello
  const frame = { type: "message.create", client_msg_id: id, text: item.text };
  if (item.prechat) frame.prechat = item.prechat;
  const attributes = cleanAttributes();
  if (attributes) frame.attributes = attributes;
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return;
  }
  try {
    const body = { client_msg_id: id, text: item.text };
    if (item.prechat) body.prechat = item.prechat;
    const attributes = cleanAttributes();
    if (attributes) body.attributes = attributes;
    const message = await call("POST", "/api/messages", body);
    onFrame({ type: "ack", client_msg_id: id, message });
  } catch (err) {
    if (err.status) failed(id, err.message); // refused: say why; a network error is retried on reconnect
  }
}

// What the server takes of setAttributes() (docs/widget.md): a site's mistake must not fail the message.
function cleanAttributes() {
  const out = {};
  for (const [key, value] of Object.entries(state.attributes).slice(0, 20)) {
    if (/^[a-z][a-z0-9_]{0,39}$/.test(key) && typeof value === "string" && value.length <= 500) out[key] = value;
  }
  if (out.email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(out.email.trim())) delete out.email;
  return Object.keys(out).length ? out : null;
}

function failed(id, reason) {
  state.outbox.delete(id);
  const m = state.messages.get(id);
  if (m) {
    m.status = "failed";
    render();
  }
  showError(reason);
}

async function sendFile(file) {
  hideError();
  if (!state.open) return showError(t("attach_first"));
  const id = newId();
  try {
    const message = await call("POST", `/api/uploads?client_msg_id=${id}`, file, {
      "Content-Type": file.type || "application/octet-stream",
      "X-Filename": encodeURIComponent(file.name),
    });
    upsert(message);
  } catch (err) {
    showError(err.message);
  }
}

function typing(on) {
  clearTimeout(state.typingTimer);
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || !state.open) return;
  const now = Date.now();
  if (on) {
    if (now - state.typingSentAt > 3000) {
      socket.send(JSON.stringify({ type: "typing", on: true }));
      state.typingSentAt = now;
    }
    state.typingTimer = setTimeout(() => typing(false), 4000);
  } else if (state.typingSentAt) {
    socket.send(JSON.stringify({ type: "typing", on: false }));
    state.typingSentAt = 0;
  }
}

function setAgentTyping(name) {
  clearTimeout(state.agentTyping);
  $("typing").textContent = name ? t("typing", { name }) : "";
  if (name) state.agentTyping = setTimeout(() => setAgentTyping(null), 8000);
}

// ---- rendering ----------------------------------------------------------------------------------------

// Replies the visitor has on screen are reported read, once each (the agent sees it on the message).
function markRead() {
  const socket = state.socket;
  if (!state.visible || document.visibilityState !== "visible") return;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const ids = [...state.messages.values()]
    .filter((m) => m.from !== "visitor" && m.status !== "read" && !state.readSent.has(m.id))
    .map((m) => m.id)
    .slice(0, 100);
  if (!ids.length) return;
  ids.forEach((id) => state.readSent.add(id));
  socket.send(JSON.stringify({ type: "read", message_ids: ids }));
}
document.addEventListener("visibilitychange", markRead);

function render() {
  const list = $("messages");
  const items = [...state.messages.values()].sort((a, b) =>
    a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0,
  );
  const nodes = [];
  let conversation = null;
  for (const m of items) {
    if (m.conversation_id && conversation && m.conversation_id !== conversation) {
      const divider = document.createElement("li");
      divider.className = "divider";
      divider.textContent = t("new_conversation");
      nodes.push(divider);
    }
    if (m.conversation_id) conversation = m.conversation_id;
    const li = document.createElement("li");
    li.className = `${m.from} ${m.status === "sending" || m.status === "failed" ? m.status : ""}`;
    li.dataset.id = m.id;
    if (m.from !== "visitor") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = m.sender_name || t(m.from === "assistant" ? "assistant" : "support");
      li.append(who);
    }
    if (m.text) li.append(document.createTextNode(m.text));
    for (const att of m.attachments || []) {
      const a = document.createElement("a");
      a.className = "file";
      a.href = "#";
      a.textContent = att.filename || "file";
      a.addEventListener("click", (e) => (e.preventDefault(), download(att)));
      li.append(a);
    }
    nodes.push(li);
  }
  list.replaceChildren(...nodes);
  markRead();
  list.scrollTop = list.scrollHeight;
  $("prechat").hidden = state.open;
}

async function download(att) {
  const response = await fetch(`${BASE}/api/attachments/${att.id}`, {
    headers: { "X-Relaydesk-Visitor": state.token },
    credentials: "omit",
  });
  if (!response.ok) return showError(t("file_failed"));
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = att.filename || "file";
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function buildPrechat() {
  const holder = $("prechat-fields");
  for (const field of boot.prechat_fields) {
    const label = document.createElement("label");
    label.textContent = field.label + (field.required ? " *" : "");
    const input = document.createElement("input");
    input.type = field.kind === "email" ? "email" : "text";
    input.name = field.key;
    input.required = field.required;
    input.maxLength = 500;
    label.append(input);
    holder.append(label);
  }
  $("consent-text").textContent = boot.consent_text;
  $("age-row").hidden = !boot.age_confirmation;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
}
function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}
function hideError() {
  $("error").hidden = true;
}

function applyTexts() {
  for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
  for (const el of document.querySelectorAll("[data-text-label]")) el.setAttribute("aria-label", t(el.dataset.textLabel));
  for (const el of document.querySelectorAll("[data-text-placeholder]")) el.placeholder = t(el.dataset.textPlaceholder);
  for (const el of document.querySelectorAll("[data-text-title]")) el.title = t(el.dataset.textTitle);
}

// Outside the inbox's business hours: say so, and when we are back (in the visitor's own time zone).
function showAway() {
  const hours = boot.hours;
  if (!hours || hours.open) return;
  let when = t("when_soon");
  if (hours.next_opening) {
    const at = new Date(hours.next_opening);
    const format = new Intl.DateTimeFormat(boot.locale || undefined, { weekday: "long", hour: "numeric", minute: "2-digit" });
    when = t("when_at", { time: format.format(at) });
  }
  $("away").textContent = t(boot.email_fallback ? "away_email" : "away", { when });
  $("away").hidden = false;
}

// The admin's live preview: the real page with sample messages; no session, no socket, no storage.
function showPreview() {
  const now = new Date().toISOString();
  const sample = [
    { id: "p1", from: "visitor", text: "Hello! Where is my order?", created_at: now, attachments: [] },
    { id: "p2", from: "agent", sender_name: "Sam", text: "It ships today.", created_at: now, attachments: [] },
  ];
  for (const m of sample) state.messages.set(m.id, m);
  render();
  $("prechat").hidden = false;
}

applyTexts();
showAway();
buildPrechat();
if (boot.preview) showPreview();
$("composer").addEventListener("submit", (e) => (e.preventDefault(), send()));
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    send();
  }
});
$("text").addEventListener("input", () => typing(true));
$("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (file) sendFile(file);
});
$("close").addEventListener("click", () => toParent({ rd: "close" }));
toParent({ rd: "ready" });
