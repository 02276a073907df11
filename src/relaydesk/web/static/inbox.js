// The agent inbox: conversation list with views, thread, composer, actions and live updates.
// Reads and writes go through the JSON API (/api/v1) with the session cookie and the CSRF header;
// live updates come from the resumable WebSocket (realtime.js). Event payloads carry ids only, so each
// event is followed by a fetch of the conversation or thread it names.
import { AiPanel } from "./ai_panel.js";
import { api, el, paintDots, postForm, timeAgo } from "./common.js";
import { LiveEvents } from "./realtime.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const me = boot.me;
const byId = (list) => Object.fromEntries(list.map((x) => [x.id, x]));
const members = byId(boot.members);
const inboxes = byId(boot.inboxes);
const teams = byId(boot.teams);
const labels = byId(boot.labels);

const state = {
  view: { ...boot.view },
  convs: new Map(),
  nextCursor: boot.next_cursor,
  loading: false,
  searching: false,
  selected: null,
  messages: new Map(),
  checked: new Set(),
  typingTimer: null,
  typingSentAt: 0,
};

const $ = (id) => document.getElementById(id);
const list = $("conv-list");

// ---- list ---------------------------------------------------------------------------------------------

function sortKey(conv) {
  return +new Date(state.view.sort === "created" ? conv.created_at : conv.last_activity_at);
}

function waitKey(conv) {
  return conv.waiting_since ? +new Date(conv.waiting_since) : Number.MAX_SAFE_INTEGER;
}

function matchesView(conv) {
  const v = state.view;
  if (v.status !== "all" && conv.status !== v.status) return false;
  if (v.assignee === "me" && conv.assignee_id !== me.id) return false;
  if (v.assignee === "unassigned" && conv.assignee_id) return false;
  if (v.inbox_id && conv.inbox_id !== v.inbox_id) return false;
  if (v.team_id && conv.team_id !== v.team_id) return false;
  if (v.label_id && !conv.labels.some((l) => l.id === v.label_id)) return false;
  return true;
}

function contactName(conv) {
  const c = conv.contact || {};
  return c.name || c.email || c.phone || `Contact #${conv.display_number}`;
}

function renderItem(conv) {
  const inbox = inboxes[conv.inbox_id];
  const assignee = conv.assignee_id ? members[conv.assignee_id]?.name || "someone" : "unassigned";
  const preview = conv.last_message
    ? (conv.last_message.message_type === "note" ? "Note: " : "") + conv.last_message.preview
    : "";
  const item = el(
    "li",
    {
      class: `conv${conv.id === state.selected ? " selected" : ""}${conv.unread_count ? " unread" : ""}`,
      dataset: { id: conv.id },
    },
    el("input", {
      type: "checkbox",
      class: "pick",
      "aria-label": `Select conversation with ${contactName(conv)}`,
      checked: state.checked.has(conv.id),
      onchange: (e) => {
        e.target.checked ? state.checked.add(conv.id) : state.checked.delete(conv.id);
        renderBulk();
      },
    }),
    el(
      "a",
      { href: `/inbox/c/${conv.id}`, class: "conv-link", onclick: (e) => (e.preventDefault(), open(conv.id)) },
      el(
        "span",
        { class: "row1" },
        el("strong", { class: "name" }, contactName(conv)),
        el("time", { datetime: conv.last_activity_at, title: conv.last_activity_at }, timeAgo(conv.last_activity_at)),
      ),
      el("span", { class: "preview" }, preview),
      el(
        "span",
        { class: "row3" },
        el("span", { class: "chip" }, inbox ? inbox.channel_type : "?"),
        el("span", { class: `chip status-${conv.status}` }, conv.status),
        conv.priority !== "none" ? el("span", { class: `chip prio-${conv.priority}` }, conv.priority) : null,
        el("span", { class: "assignee" }, assignee),
        conv.labels.map((l) => el("span", { class: "label-chip" }, el("span", { class: "dot", "data-color": l.color }), l.name)),
        conv.unread_count
          ? el("span", { class: "badge", "aria-label": `${conv.unread_count} unread` }, String(conv.unread_count))
          : null,
      ),
    ),
  );
  return item;
}

function renderList() {
  const convs = [...state.convs.values()].sort((a, b) =>
    state.view.sort === "waiting" ? waitKey(a) - waitKey(b) : sortKey(b) - sortKey(a));
  list.replaceChildren(...convs.map(renderItem));
  $("list-empty").hidden = convs.length > 0;
  paintDots(list);
  markCurrentView();
}

function upsert(conv) {
  if (!state.searching && !matchesView(conv)) state.convs.delete(conv.id);
  else if (!state.searching || state.convs.has(conv.id)) state.convs.set(conv.id, conv);
  renderList();
  if (conv.id === state.selected) renderHeader(conv);
}

function viewQuery(extra = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...state.view, ...extra })) {
    if (v && !(k === "assignee" && v === "all")) params.set(k, v);
  }
  return params;
}

async function loadPage(reset) {
  if (state.loading || state.searching || (!reset && !state.nextCursor)) return;
  state.loading = true;
  try {
    const params = viewQuery({ limit: 25 });
    if (!reset) params.set("cursor", state.nextCursor);
    const page = await api("GET", `/api/v1/conversations?${params}`);
    if (reset) state.convs.clear();
    for (const conv of page.items) state.convs.set(conv.id, conv);
    state.nextCursor = page.next_cursor;
    renderList();
  } finally {
    state.loading = false;
  }
}

function setView(changes) {
  const keep = { status: state.view.status, sort: state.view.sort };
  state.view = { assignee: "all", inbox_id: "", team_id: "", label_id: "", ...keep, ...changes };
  state.searching = false;
  $("search").value = "";
  history.replaceState(null, "", `${location.pathname}?${viewQuery()}`);
  loadPage(true);
}

function markCurrentView() {
  for (const a of document.querySelectorAll("[data-view]")) {
    const [key, value] = a.dataset.view.split("=");
    const current = key === "assignee"
      ? state.view.assignee === value && !state.view.inbox_id && !state.view.team_id && !state.view.label_id
      : state.view[key] === value;
    current ? a.setAttribute("aria-current", "true") : a.removeAttribute("aria-current");
  }
}

document.querySelector(".views").addEventListener("click", (event) => {
  const link = event.target.closest("[data-view]");
  if (!link) return;
  event.preventDefault();
  const [key, value] = link.dataset.view.split("=");
  setView({ [key]: value });
});
$("status-filter").addEventListener("change", (e) => {
  state.view.status = e.target.value;
  setView({ ...state.view });
});
$("sort-filter").addEventListener("change", (e) => {
  state.view.sort = e.target.value;
  setView({ ...state.view });
});

new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) loadPage(false);
}).observe($("list-sentinel"));

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("search").value.trim();
  if (!q) return setView({ ...state.view });
  const result = await api("GET", `/inbox/search?q=${encodeURIComponent(q)}`);
  state.searching = true;
  state.convs = new Map(result.items.map((c) => [c.id, c]));
  state.nextCursor = null;
  renderList();
});
$("search").addEventListener("search", () => {
  if (!$("search").value) setView({ ...state.view });
});

// ---- bulk actions -------------------------------------------------------------------------------------

function renderBulk() {
  $("bulk-bar").hidden = state.checked.size === 0;
  $("bulk-count").textContent = `${state.checked.size} selected`;
}

document.getElementById("bulk-bar").addEventListener("click", async (event) => {
  const action = event.target.dataset?.bulk;
  if (!action) return;
  const body = action === "assign-me" ? { assignee_id: me.id } : { status: action };
  await Promise.all([...state.checked].map((id) => api("PATCH", `/api/v1/conversations/${id}`, body).then(upsert)));
  state.checked.clear();
  renderBulk();
  renderList();
});

// ---- thread -------------------------------------------------------------------------------------------

const TICKS = { pending: "🕓 sending", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read", failed: "⚠ failed" };

// A customer's message shows when they sent it (the provider's time) and, when that differs by a minute
// or more, when Relaydesk received it: a delayed or queued message is visible as such.
function messageTimes(m) {
  const received = el("time", { datetime: m.created_at, title: `received ${m.created_at}` }, new Date(m.created_at).toLocaleString());
  if (m.message_type !== "incoming" || !m.sent_at) return [received];
  const sent = el("time", { class: "sent-at", datetime: m.sent_at, title: `sent ${m.sent_at}` }, `sent ${new Date(m.sent_at).toLocaleString()}`);
  if (Math.abs(new Date(m.sent_at) - new Date(m.created_at)) < 60_000) return [sent];
  received.classList.add("received-at");
  received.textContent = `received ${received.textContent}`;
  return [sent, received];
}

// Thread order: `ordered_at` (the send time when plausible, else when stored), then id (time-ordered).
const threadKey = (m) => `${m.ordered_at || m.created_at}|${m.id}`;

// An e-mail's extras (docs/email.md): why no automatic answer may follow, what was neutralised, where
// quoted text went, and its HTML in a sandboxed frame whose remote images load only when the agent asks.
function mailDetails(m) {
  const attrs = m.content_attributes || {};
  const mail = attrs.email;
  if (!mail) return null;
  const parts = [];
  if (attrs.no_auto_reply) parts.push(el("span", { class: "chip automatic", title: attrs.no_auto_reply }, "automatic mail"));
  const original = Number.isInteger(attrs.original_attachment) ? m.attachments?.[attrs.original_attachment] : null;
  if (mail.quoted_hidden && original) {
    parts.push(el("a", { class: "mail-original", href: original.url, download: original.filename }, "quoted text hidden: full original"));
  }
  for (const note of mail.notes || []) parts.push(el("span", { class: "reason mail-note" }, note));
  if (Number.isInteger(mail.html)) {
    const frame = el("iframe", { class: "mail-html", sandbox: "", title: "Formatted mail", referrerpolicy: "no-referrer" });
    frame.hidden = true;
    const view = `/inbox/messages/${m.id}/email`;
    const toggle = el("button", { type: "button", class: "mail-show-html" }, "Show formatted");
    toggle.onclick = () => {
      frame.hidden = !frame.hidden;
      if (!frame.hidden && !frame.src) frame.src = view;
      toggle.textContent = frame.hidden ? "Show formatted" : "Hide formatted";
      if (images) images.hidden = frame.hidden;
    };
    const images = mail.remote_images
      ? el("button", { type: "button", class: "mail-show-images" }, `Show images (${mail.remote_images})`)
      : null;
    if (images) {
      images.hidden = true;
      images.onclick = () => {
        frame.src = `${view}?images=1`;
        images.disabled = true;
      };
    }
    parts.push(toggle, images, frame);
  }
  return parts.length ? el("div", { class: "mail-details" }, ...parts.filter(Boolean)) : null;
}

function renderMessage(m) {
  const conv = state.convs.get(m.conversation_id) || state.current;
  const who =
    m.sender_kind === "customer" ? (conv ? contactName(conv) : "Customer")
      : m.sender_name || (m.sender_kind === "ai" ? "AI agent" : m.sender_kind === "system" ? "System" : "Agent");
  const inbox = inboxes[m.inbox_id];
  const outgoing = m.message_type === "outgoing" || m.message_type === "note";
  return el(
    "article",
    {
      class: `msg ${m.message_type}${m.private ? " private" : ""}${m._local ? " local" : ""}`,
      dataset: { id: m.id },
      "aria-label": `${m.private ? "Private note" : "Message"} from ${who}`,
    },
    el(
      "header",
      {},
      el("strong", {}, who),
      m.private ? el("span", { class: "chip note-chip" }, "private note") : null,
      el("span", { class: "chip" }, inbox ? inbox.channel_type : ""),
      ...messageTimes(m),
    ),
    m.content ? el("p", { class: "body" }, m.content) : null,
    mailDetails(m),
    m.attachments?.length
      ? el("ul", { class: "attachments" }, m.attachments.map((a) =>
        el("li", {}, el("a", { href: a.url, download: a.filename }, `📎 ${a.filename}`), ` (${Math.ceil(a.size / 1024)} KB)`)))
      : null,
    outgoing && !m.private
      ? el(
        "footer",
        { class: `ticks status-${m.status}` },
        m._failed ? "⚠ not sent" : TICKS[m.status] || m.status,
        m.status === "failed" && m.failure_reason ? el("span", { class: "reason" }, `: ${m.failure_reason}`) : null,
        // The visitor had left the chat: this reply went by e-mail (docs/widget.md).
        m.content_attributes?.delivered_by?.channel === "email" ? el("span", { class: "reason by-email" }, " · sent by e-mail") : null,
        m._failed ? el("button", { type: "button", class: "retry", onclick: () => retry(m) }, "Retry") : null,
      )
      : null,
  );
}

function renderMessages() {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const sorted = [...state.messages.values()].sort((a, b) => {
    const [ka, kb] = [threadKey(a), threadKey(b)];
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  box.replaceChildren(...sorted.map(renderMessage));
  if (atBottom || state.scrollNext) box.scrollTop = box.scrollHeight;
  state.scrollNext = false;
}

function optionList(select, items, current, blank) {
  select.replaceChildren(
    el("option", { value: "" }, blank),
    ...items.map((i) => el("option", { value: i.id, selected: i.id === current }, i.name)),
  );
}

function renderHeader(conv) {
  state.current = conv;
  aiPanel.update(conv);
  const inbox = inboxes[conv.inbox_id];
  $("thread-title").textContent = `${contactName(conv)} · #${conv.display_number}`;
  $("thread-meta").textContent = `${inbox ? `${inbox.name} (${inbox.channel_type})` : ""} · ${conv.status}${
    conv.snoozed_until ? ` until ${new Date(conv.snoozed_until).toLocaleString()}` : ""}`;
  optionList($("act-assignee"), boot.members, conv.assignee_id, "Unassigned");
  optionList($("act-team"), boot.teams, conv.team_id, "No team");
  $("act-priority").value = conv.priority;
  const chosen = new Set(conv.labels.map((l) => l.id));
  $("act-labels").replaceChildren(
    ...boot.labels.map((l) =>
      el("label", {}, el("input", { type: "checkbox", value: l.id, checked: chosen.has(l.id) }), ` ${l.name}`)),
  );
  $("act-resolve").hidden = conv.status === "resolved";
  $("act-reopen").hidden = conv.status !== "resolved";
  const hours = inbox?.reply_window_hours;
  const closed = hours && (!conv.last_incoming_at || Date.now() - new Date(conv.last_incoming_at) > hours * 3600e3);
  $("window-warning").hidden = !closed;
}

async function open(id, { push = true } = {}) {
  state.selected = id;
  state.messages.clear();
  $("thread-placeholder").hidden = true;
  $("thread").hidden = false;
  $("typing").textContent = "";
  if (push) history.pushState(null, "", `/inbox/c/${id}?${viewQuery()}`);
  const [conv, page] = await Promise.all([
    api("GET", `/api/v1/conversations/${id}`),
    api("GET", `/api/v1/conversations/${id}/messages?limit=50`),
  ]);
  if (state.selected !== id) return;
  for (const m of page.items) state.messages.set(m.id, m);
  state.scrollNext = true;
  renderHeader(conv);
  renderMessages();
  upsert(conv);
  if (conv.unread_count) api("POST", `/api/v1/conversations/${id}/seen`).catch(() => {});
  loadContact(conv);
  aiPanel.show(conv).catch((err) => aiPanel.status(err.message));
}

async function refreshThread(id) {
  const page = await api("GET", `/api/v1/conversations/${id}/messages?limit=50`);
  if (state.selected !== id) return;
  for (const m of page.items) state.messages.set(m.id, m);
  renderMessages();
}

// ---- contact panel ------------------------------------------------------------------------------------

async function loadContact(conv) {
  const body = $("contact-body");
  if (!conv.contact) return body.replaceChildren(el("p", { class: "empty" }, "Contact erased."));
  const data = await api("GET", `/inbox/contacts/${conv.contact.id}/panel`);
  const c = data.contact;
  const attrs = Object.entries(c.custom_attributes || {});
  const notes = el("textarea", { id: "contact-notes", rows: 3 }, c.notes || "");
  body.replaceChildren(
    el("p", { class: "contact-name" }, el("strong", {}, c.name || "(no name)")),
    el("dl", {},
      c.email ? [el("dt", {}, "E-mail"), el("dd", {}, c.email)] : null,
      c.phone ? [el("dt", {}, "Phone"), el("dd", {}, c.phone)] : null,
      attrs.map(([k, v]) => [el("dt", {}, data.attribute_labels[k] || k), el("dd", {}, String(v))]),
    ),
    el("h3", {}, "Identities"),
    el("ul", {}, data.identities.map((i) => el("li", {}, `${i.channel_type} · ${i.inbox}: `, el("code", {}, i.external_id)))),
    el("h3", {}, "Conversations"),
    el("ul", {}, data.conversations.map((p) =>
      el("li", {}, el("a", { href: `/inbox/c/${p.id}`, onclick: (e) => (e.preventDefault(), open(p.id)) },
        `#${p.display_number} · ${p.status} · ${timeAgo(p.last_activity_at)}`)))),
    el("label", { for: "contact-notes" }, "Notes"),
    notes,
    el("button", {
      type: "button",
      onclick: async (e) => {
        await postForm(`/inbox/contacts/${c.id}/notes`, { notes: notes.value });
        e.target.textContent = "Saved";
      },
    }, "Save notes"),
  );
}

// ---- actions ------------------------------------------------------------------------------------------

async function patch(body) {
  if (!state.selected) return;
  try {
    upsert(await api("PATCH", `/api/v1/conversations/${state.selected}`, body));
  } catch (err) {
    alert(err.message);
  }
}

$("act-assign-me").addEventListener("click", () => patch({ assignee_id: me.id }));
$("act-assignee").addEventListener("change", (e) => patch({ assignee_id: e.target.value || null }));
$("act-team").addEventListener("change", (e) => patch({ team_id: e.target.value || null }));
$("act-priority").addEventListener("change", (e) => patch({ priority: e.target.value }));
$("act-resolve").addEventListener("click", () => patch({ status: "resolved" }));
$("act-reopen").addEventListener("click", () => patch({ status: "open" }));
$("act-snooze").addEventListener("click", () => {
  const value = $("snooze-until").value;
  if (!value) return alert("Choose when the conversation should come back.");
  patch({ status: "snoozed", snoozed_until: new Date(value).toISOString() });
});
async function setLabels(ids) {
  upsert(await api("PUT", `/api/v1/conversations/${state.selected}/labels`, { label_ids: ids }));
}

$("act-labels").addEventListener("change", () =>
  setLabels([...$("act-labels").querySelectorAll("input:checked")].map((i) => i.value)));

// ---- AI assistant panel -------------------------------------------------------------------------------

const aiPanel = new AiPanel({
  isAdmin: me.role === "admin" || me.role === "owner",
  // A suggestion goes into the composer as a reply to edit; only the agent's Enter or Send sends it.
  insertReply: (suggestion) => {
    document.querySelector('input[name="mode"][value="reply"]').checked = true;
    text.value = suggestion;
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  },
  applyLabel: async (labelId) => {
    const ids = new Set((state.current?.labels || []).map((l) => l.id));
    ids.add(labelId);
    try {
      await setLabels([...ids]);
    } catch (err) {
      alert(err.message);
    }
  },
});

// ---- composer -----------------------------------------------------------------------------------------

const text = $("composer-text");
const cannedMenu = $("canned-menu");
let cannedIndex = 0;

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function filesAsBase64(files) {
  return Promise.all(
    [...files].map((file) => new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve({
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        data_base64: reader.result.split(",", 2)[1] || "",
      });
      reader.onerror = reject;
      reader.readAsDataURL(file);
    })),
  );
}

async function deliver(local) {
  local._failed = false;
  state.messages.set(local.id, local);
  renderMessages();
  try {
    const saved = await api("POST", `/api/v1/conversations/${local.conversation_id}/messages`, local._body);
    state.messages.delete(local.id);
    if (state.selected === local.conversation_id) state.messages.set(saved.id, saved);
  } catch (err) {
    local._failed = true;
    local.failure_reason = err.message;
  }
  renderMessages();
}

function retry(local) {
  deliver(local);
}

async function send() {
  const content = text.value.trim();
  const files = $("composer-files").files;
  if (!content && !files.length) return;
  const attachments = await filesAsBase64(files);
  const body = { content: content || null, private: mode() === "note", attachments };
  const local = {
    id: `local-${crypto.randomUUID()}`,
    _local: true,
    _body: body,
    conversation_id: state.selected,
    inbox_id: state.current?.inbox_id,
    message_type: body.private ? "note" : "outgoing",
    private: body.private,
    sender_kind: "agent",
    sender_name: me.name,
    content,
    attachments: attachments.map((a) => ({ filename: a.filename, size: a.data_base64.length * 0.75, url: "#" })),
    status: "pending",
    created_at: new Date().toISOString(),
    ordered_at: "9999", // a message being written sorts last until the server gives its place
  };
  text.value = "";
  $("composer-files").value = "";
  $("file-names").textContent = "";
  typing(false);
  state.scrollNext = true;
  await deliver(local);
}

$("composer").addEventListener("submit", (e) => (e.preventDefault(), send()));
$("composer-files").addEventListener("change", (e) => {
  $("file-names").textContent = [...e.target.files].map((f) => f.name).join(", ");
});

function cannedMatches() {
  const q = text.value.slice(1).toLowerCase();
  return boot.canned.filter((c) => c.short_code.toLowerCase().includes(q)).slice(0, 8);
}

function renderCanned() {
  const open = text.value.startsWith("/") && !text.value.includes("\n");
  const matches = open ? cannedMatches() : [];
  cannedMenu.hidden = matches.length === 0;
  cannedIndex = Math.min(cannedIndex, Math.max(0, matches.length - 1));
  cannedMenu.replaceChildren(
    ...matches.map((c, i) =>
      el("li", {
        role: "option",
        "aria-selected": i === cannedIndex ? "true" : "false",
        onmousedown: (e) => (e.preventDefault(), useCanned(c)),
      }, el("strong", {}, `/${c.short_code}`), " ", c.content.slice(0, 80))),
  );
}

function useCanned(c) {
  text.value = c.content;
  cannedMenu.hidden = true;
  text.focus();
}

text.addEventListener("input", () => {
  renderCanned();
  typing(true);
});
text.addEventListener("keydown", (event) => {
  if (!cannedMenu.hidden) {
    const matches = cannedMatches();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      cannedIndex = (cannedIndex + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      return renderCanned();
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      return useCanned(matches[cannedIndex]);
    }
    if (event.key === "Escape") return (cannedMenu.hidden = true);
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  } else if (event.key === "Escape") {
    text.blur();
  }
});

function typing(on) {
  if (!state.selected) return;
  const now = Date.now();
  clearTimeout(state.typingTimer);
  if (on) {
    if (now - state.typingSentAt > 3000) {
      live.send({ type: "typing", conversation_id: state.selected, on: true });
      state.typingSentAt = now;
    }
    state.typingTimer = setTimeout(() => typing(false), 5000);
  } else if (state.typingSentAt) {
    live.send({ type: "typing", conversation_id: state.selected, on: false });
    state.typingSentAt = 0;
  }
}

// ---- live updates -------------------------------------------------------------------------------------

const pending = new Map();

function soon(key, fn) {
  // Coalesce bursts (a message event and its conversation event) into one fetch.
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => (pending.delete(key), fn()), 30));
}

function onEvent(event) {
  const p = event.payload || {};
  if (event.type === "member.deactivated" && p.user_id === me.id) {
    live.closedByUs = true;
    live.drop();
    window.location.href = "/login";
    return;
  }
  const convId = p.conversation_id;
  if (event.type.startsWith("conversation.") || event.type.startsWith("message.")) {
    if (convId) soon(`c:${convId}`, () => api("GET", `/api/v1/conversations/${convId}`).then(upsert).catch(() => {}));
  }
  if (event.type.startsWith("message.") && convId === state.selected) {
    soon(`m:${convId}`, () => refreshThread(convId));
  }
  if (event.type === "message.created" && convId === state.selected && p.sender_kind === "customer") {
    $("typing").textContent = "";
  }
  aiPanel.onEvent(event);
}

const typers = new Map();
function onTyping(p) {
  if (p.conversation_id !== state.selected) return;
  clearTimeout(typers.get(p.user_id));
  if (p.on) typers.set(p.user_id, setTimeout(() => onTyping({ ...p, on: false }), 6000));
  else typers.delete(p.user_id);
  $("typing").textContent = p.on ? `${p.name} is typing…` : "";
}

const statusText = { connecting: "Connecting…", live: "● Live", offline: "Offline — reconnecting…" };
const live = new LiveEvents({
  after: boot.seq,
  onEvent,
  onTyping,
  onStatus: (s) => {
    $("live-status").textContent = statusText[s];
    $("live-status").dataset.state = s;
  },
});
window.relaydeskLive = live; // for the browser tests' reconnect check and for debugging
live.connect();

// ---- keyboard shortcuts -------------------------------------------------------------------------------

function move(delta) {
  const ids = [...list.querySelectorAll("li.conv")].map((li) => li.dataset.id);
  if (!ids.length) return;
  const i = ids.indexOf(state.selected);
  const next = ids[Math.max(0, Math.min(ids.length - 1, i + delta))] || ids[0];
  open(next);
  list.querySelector(`[data-id="${next}"] a`)?.focus();
}

$("show-shortcuts").addEventListener("click", () => $("shortcuts").showModal());
document.addEventListener("keydown", (event) => {
  const t = event.target;
  if (t.closest("input, textarea, select, [contenteditable]") || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    "?": () => $("shortcuts").showModal(),
    j: () => move(1),
    k: () => move(-1),
    "/": () => $("search").focus(),
    r: () => { document.querySelector('input[value="reply"]').checked = true; text.focus(); },
    n: () => { document.querySelector('input[value="note"]').checked = true; text.focus(); },
    a: () => patch({ assignee_id: me.id }),
    e: () => patch({ status: "resolved" }),
    o: () => patch({ status: "open" }),
    x: () => {
      if (!state.selected) return;
      state.checked.has(state.selected) ? state.checked.delete(state.selected) : state.checked.add(state.selected);
      renderBulk();
      renderList();
    },
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/inbox\/c\/([0-9a-f-]{36})/);
  if (match) open(match[1], { push: false });
});

// ---- start --------------------------------------------------------------------------------------------

for (const conv of boot.items) state.convs.set(conv.id, conv);
renderList();
if (boot.selected) {
  state.convs.set(boot.selected.id, boot.selected);
  open(boot.selected.id, { push: false });
}
