// The inbox's AI assistant panel for the open conversation: suggested replies (a click puts one in the
// composer; nothing is ever sent from here), summary, intent, sentiment per customer message, suggested
// labels (a click applies the label through the normal label action), the AI decision log with its
// contested state, and the AI switches of the conversation and of the contact.
//
// Everything comes from the JSON API. It loads when a conversation opens and reloads on the workspace
// events that concern it (a customer message, an AI decision, a switch or a settings change): no polling.
import { api, el } from "./common.js";

const $ = (id) => document.getElementById(id);
const pct = (x) => `${Math.round(Number(x) * 100)} %`;
const num = (x) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(3)) : String(x));
const signed = (x) => (Number(x) > 0 ? "+" : "") + Number(x).toFixed(2);
const words = (s) => String(s || "").replaceAll("_", " ");

const ACTIONS = {
  answer: "Answered",
  clarify: "Asked a clarifying question",
  offer_handoff: "Offered a person",
  handoff: "Handed off to people",
  smalltalk: "Small talk",
  classify: "Classified (label, priority)",
};

export class AiPanel {
  /**
   * @param {object} opts
   * @param {(text: string) => void} opts.insertReply  put a text in the composer (reply mode)
   * @param {(labelId: string) => Promise<void>} opts.applyLabel  add one label to the open conversation
   * @param {boolean} opts.isAdmin  show the link to the AI settings page
   */
  constructor({ insertReply, applyLabel, isAdmin }) {
    this.insertReply = insertReply;
    this.applyLabel = applyLabel;
    this.isAdmin = isAdmin;
    this.conv = null;
    this.state = null;
    this.timers = new Map();
    $("ai-conv-switch").addEventListener("change", (e) => this.switchConversation(e.target));
    $("ai-contact-switch").addEventListener("change", (e) => this.switchContact(e.target));
  }

  // ---- loading --------------------------------------------------------------------------------------

  async show(conv) {
    const changed = this.conv?.id !== conv.id;
    this.conv = conv;
    this.state = null;
    if (changed) {
      $("ai-body").hidden = true;
      this.status("Loading…");
    }
    await Promise.all([this.loadState(), this.loadDecisions()]);
  }

  /** The open conversation changed (labels, status…): keep the copy fresh without reloading. */
  update(conv) {
    if (this.conv?.id === conv.id) this.conv = conv;
  }

  clear() {
    this.conv = null;
    $("ai-body").hidden = true;
    this.status("No conversation selected.");
  }

  /** Called for every workspace event; reloads only what the event can have changed. */
  onEvent(event) {
    if (!this.conv) return;
    const p = event.payload || {};
    if (event.type === "ai.settings_updated") return this.later("state", () => this.loadState());
    if (p.conversation_id !== this.conv.id) return;
    if (event.type === "message.created" && p.sender_kind === "customer") {
      this.later("assist", () => this.loadAssist());
    } else if (event.type === "ai.decision" || event.type === "ai.decision_contested") {
      // A decision may also have switched the AI off here (a handoff).
      this.later("decisions", () => this.loadDecisions());
      this.later("state", () => this.loadState());
    } else if (event.type === "ai.conversation_updated") {
      this.later("state", () => this.loadState());
    }
  }

  later(key, fn) {
    // A burst of events (message + decision + conversation) becomes one fetch of each kind.
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => (this.timers.delete(key), fn().catch(() => {})), 150));
  }

  async loadState() {
    const id = this.conv.id;
    const s = await api("GET", `/api/v1/conversations/${id}/ai`);
    if (this.conv?.id !== id) return;
    const before = this.state;
    this.state = s;
    this.renderState();
    // Suggestions depend on the messages, not on the switches: fetch them when they first become visible.
    if (s.inbox_ai_enabled && !before?.inbox_ai_enabled) await this.loadAssist();
  }

  async loadAssist() {
    const id = this.conv?.id;
    if (!id || !this.state?.inbox_ai_enabled) return;
    $("ai-assist").setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", `/api/v1/conversations/${id}/assist`);
      if (this.conv?.id === id) this.renderAssist(data);
    } catch (err) {
      if (this.conv?.id === id) $("ai-replies").replaceChildren(el("li", { class: "error" }, err.message));
    } finally {
      $("ai-assist").removeAttribute("aria-busy");
    }
  }

  async loadDecisions() {
    const id = this.conv.id;
    const data = await api("GET", `/api/v1/conversations/${id}/ai-decisions`);
    if (this.conv?.id === id) this.renderDecisions(data.items);
  }

  status(text, ...extra) {
    $("ai-status").replaceChildren(text, ...extra);
    $("ai-status").hidden = !text;
  }

  // ---- switches -------------------------------------------------------------------------------------

  renderState() {
    const s = this.state;
    $("ai-body").hidden = false;
    // The switches govern automated replies: shown only where the inbox replies on its own, so a box is
    // never ticked while the AI is off; elsewhere the status line says why nothing is automated.
    const replying = s.inbox_ai_enabled && s.auto_reply;
    $("ai-switches").hidden = !replying;
    $("ai-conv-switch").checked = replying && s.ai_enabled;
    $("ai-contact-switch").checked = replying && s.contact_ai_enabled;
    $("ai-contact-row").hidden = !this.conv.contact;
    $("ai-assist").hidden = !s.inbox_ai_enabled;
    if (!s.inbox_ai_enabled) {
      this.status(
        "AI is off for this inbox: no suggestions and no automated replies.",
        this.isAdmin ? el("span", {}, " ", el("a", { href: "/admin/ai" }, "Set it up in Admin → AI")) : "",
      );
    } else if (!s.contact_ai_enabled) {
      this.status("The contact has switched off automated handling: the AI agent does not reply to them.");
    } else if (!s.ai_enabled) {
      this.status(`The AI agent does not reply in this conversation${s.reason ? ` (${words(s.reason)})` : ""}.`);
    } else if (!s.auto_reply) {
      this.status(
        s.auto_classify
          ? "Automated replies are off for this inbox; suggestions only. Customer messages still get their intent's label and priority."
          : "Automated replies are off for this inbox; suggestions only.",
      );
    } else {
      this.status("");
    }
  }

  async switchConversation(box) {
    box.disabled = true;
    try {
      await api("PUT", `/api/v1/conversations/${this.conv.id}/ai`, { enabled: box.checked });
      await this.loadState();
    } catch (err) {
      box.checked = !box.checked;
      alert(err.message);
    } finally {
      box.disabled = false;
    }
  }

  async switchContact(box) {
    if (!this.conv.contact) return;
    box.disabled = true;
    try {
      await api("PUT", `/api/v1/contacts/${this.conv.contact.id}/ai`, { enabled: box.checked });
      await this.loadState();
    } catch (err) {
      box.checked = !box.checked;
      alert(err.message);
    } finally {
      box.disabled = false;
    }
  }

  // ---- assist ---------------------------------------------------------------------------------------

  renderAssist(data) {
    const replies = data.suggested_replies || [];
    $("ai-replies").replaceChildren(
      ...(replies.length
        ? replies.map((s, i) => this.suggestion(s, i))
        : [el("li", { class: "empty" }, "No suggestion: nothing in the knowledge base or in past replies is close enough.")]),
    );
    $("ai-summary").replaceChildren(
      ...(data.summary?.length ? data.summary.map((line) => el("li", {}, line)) : [el("li", { class: "empty" }, "No customer message yet.")]),
    );
    const intent = data.intent;
    $("ai-intent").replaceChildren(
      intent
        ? el("span", {},
          el("strong", {}, words(intent.name)), ` · ${pct(intent.confidence)} confidence`,
          intent.out_of_scope ? el("span", { class: "chip" }, "out of scope") : null)
        : el("span", { class: "empty" }, "No intent detected."),
    );
    this.renderSentiment(data.sentiment);
    const have = new Set((this.conv.labels || []).map((l) => l.id));
    const labels = (data.suggested_labels || []).filter((l) => !have.has(l.label_id));
    $("ai-labels").replaceChildren(
      ...(labels.length
        ? labels.map((l) =>
          el("button", {
            type: "button",
            class: "label-suggestion",
            title: `similarity ${num(l.score)}`,
            "aria-label": `Add label ${l.name}`,
            onclick: async (e) => {
              e.target.disabled = true;
              await this.applyLabel(l.label_id);
              const group = e.target.parentElement;
              e.target.remove();
              if (!group.querySelector("button")) group.replaceChildren(el("span", { class: "empty" }, "No label to suggest."));
            },
          }, `+ ${l.name}`))
        : [el("span", { class: "empty" }, "No label to suggest.")]),
    );
  }

  suggestion(s, i) {
    const textId = `ai-suggestion-${i}`;
    const source = s.source === "knowledge"
      ? el("span", {}, "From the knowledge base: ", s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.title) : s.title)
      : el("span", {}, "From a past agent reply");
    return el(
      "li",
      { class: "suggestion" },
      el("p", { id: textId, class: "suggestion-text" }, s.text),
      el("p", { class: "meta" }, source, ` · match ${pct(s.score)}`),
      el("button", {
        type: "button",
        "aria-describedby": textId,
        onclick: () => this.insertReply(s.text),
      }, "Use this reply"),
    );
  }

  renderSentiment(sentiment) {
    const box = $("ai-sentiment");
    if (!sentiment) return box.replaceChildren(el("span", { class: "empty" }, "No customer message yet."));
    const t = sentiment.trend;
    const direction = t > 0.05 ? "getting better" : t < -0.05 ? "getting worse" : "steady";
    const scores = sentiment.scores || [sentiment.last];
    box.replaceChildren(
      el("span", { class: `sentiment-${sentiment.label}` }, el("strong", {}, sentiment.label)),
      ` (${signed(sentiment.last)}), ${direction}`,
      trendChart(scores),
    );
  }

  // ---- decision log ---------------------------------------------------------------------------------

  renderDecisions(items) {
    $("ai-log-count").textContent = String(items.length);
    $("ai-decisions").replaceChildren(
      ...(items.length ? [...items].reverse().map((d) => this.decision(d)) : [el("li", { class: "empty" }, "No automated decision in this conversation.")]),
    );
  }

  decision(d) {
    const inputs = Object.entries(d.inputs || {}).filter(([k]) => k !== "retrieval" && k !== "message_id");
    const retrieval = d.inputs?.retrieval || [];
    return el(
      "li",
      { class: `decision${d.contested ? " contested" : ""}`, dataset: { id: d.id } },
      el("p", {},
        el("strong", {}, ACTIONS[d.action] || words(d.action)),
        d.reason_category ? ` · ${words(d.reason_category)}` : "",
        ` · ${d.provider} · `,
        el("time", { datetime: d.created_at }, new Date(d.created_at).toLocaleString()),
      ),
      d.contested
        ? el("p", { class: "contested-note", role: "note" },
          el("strong", {}, "Contested"), ` ${new Date(d.contested_at).toLocaleString()}`, d.contest_note ? `: ${d.contest_note}` : "")
        : null,
      inputs.length
        ? el("dl", { class: "inputs", "aria-label": "Inputs" }, inputs.map(([k, v]) => [el("dt", {}, words(k)), el("dd", {}, Array.isArray(v) ? v.map(num).join(", ") : num(v))]))
        : null,
      retrieval.length
        ? el("table", { class: "scores" },
          el("caption", {}, "Passages considered"),
          el("thead", {}, el("tr", {}, ["passage", "cosine", "BM25", "fused"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, retrieval.map((r) => el("tr", {},
            el("td", { title: r.chunk_id }, r.chunk_id.slice(-6)), el("td", {}, num(r.cosine)), el("td", {}, num(r.bm25)), el("td", {}, num(r.fused))))))
        : null,
      d.sources?.length
        ? el("p", { class: "sources" }, "Sources: ", d.sources.map((s, i) => [i ? ", " : "", s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.title) : s.title]))
        : null,
      d.contested ? null : this.contestForm(d),
    );
  }

  contestForm(d) {
    const noteId = `contest-note-${d.id}`;
    const note = el("input", { id: noteId, maxlength: 500, placeholder: "What the customer objects to" });
    return el("details", { class: "contest" },
      el("summary", {}, "Contest for the customer"),
      el("label", { for: noteId }, "Note"),
      note,
      el("button", {
        type: "button",
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api("POST", `/api/v1/ai/decisions/${d.id}/contest`, { note: note.value.trim() || null });
            await this.loadDecisions();
          } catch (err) {
            e.target.disabled = false;
            alert(err.message);
          }
        },
      }, "Contest this decision"));
  }
}

/** A small bar chart of sentiment scores (−1 … 1), one bar per customer message, oldest first. */
function trendChart(scores) {
  const NS = "http://www.w3.org/2000/svg";
  const w = 12;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "trend");
  svg.setAttribute("viewBox", `0 0 ${Math.max(1, scores.length) * w} 40`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Sentiment per customer message, oldest first: ${scores.map(signed).join(", ")}`);
  const axis = document.createElementNS(NS, "line");
  Object.entries({ x1: 0, x2: scores.length * w, y1: 20, y2: 20, class: "axis" }).forEach(([k, v]) => axis.setAttribute(k, v));
  svg.append(axis);
  scores.forEach((s, i) => {
    const h = Math.max(1, Math.abs(s) * 19);
    const bar = document.createElementNS(NS, "rect");
    const attrs = { x: i * w + 2, width: w - 4, y: s >= 0 ? 20 - h : 20, height: h, class: s >= 0 ? "pos" : "neg" };
    Object.entries(attrs).forEach(([k, v]) => bar.setAttribute(k, v));
    const title = document.createElementNS(NS, "title");
    title.textContent = `message ${i + 1}: ${signed(s)}`;
    bar.append(title);
    svg.append(bar);
  });
  return svg;
}
