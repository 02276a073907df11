// Forms of the knowledge base and AI admin pages. Each form names the JSON API call it makes
// (data-api="METHOD /api/v1/…") and the shape of its body (data-shape); it is sent with the session's
// CSRF header, and the API's own validation errors are shown on the page (per field where the API names
// one). On success the browser goes to data-then (the server-rendered page, fresh from the database).
import { api, el } from "./common.js";
import { LiveEvents } from "./realtime.js";

const SHAPES = {
  article: articleBody,
  settings: settingsBody,
  import: importBody,
  search: (form) => ({ query: form.elements.query.value, limit: 5 }),
  intent: intentBody,
  intent_test: (form) => ({ text: form.elements.text.value }),
  probe: () => undefined,
  delete: () => undefined,
};

function list(value, separator) {
  return value.split(separator).map((v) => v.trim()).filter(Boolean);
}

function articleBody(form) {
  const f = form.elements;
  return {
    kind: f.kind.value,
    title: f.title.value,
    body: f.body.value,
    url: f.url.value.trim() || null,
    tags: list(f.tags.value, ","),
    published: f.published.checked,
  };
}

function intentBody(form) {
  const f = form.elements;
  const body = {
    description: f.description.value.trim(),
    examples: list(f.examples.value, "\n"),
    label_id: f.label_id.value || null,
    priority: f.priority.value || null,
    handoff: f.handoff.checked,
    enabled: f.enabled.checked,
  };
  if (!f.name.disabled) body.name = f.name.value.trim(); // a built-in intent keeps its name
  return body;
}

/** The settings changed on the form (only those: the audit log and the probe-on-save go by the keys
 * sent); a field emptied is `null` (inherit / default). */
function settingsBody(form) {
  const settings = {};
  for (const field of form.querySelectorAll("[data-type]")) {
    const raw = field.value.trim();
    const type = field.dataset.type;
    if (type === "secret" || field.value === field.dataset.initial) continue;
    if (raw === "") settings[field.name] = null;
    else if (type === "bool") settings[field.name] = raw === "on";
    else if (type === "number") settings[field.name] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    else if (type === "int") settings[field.name] = Number.isInteger(Number(raw)) ? Number(raw) : raw;
    else if (type === "list") settings[field.name] = list(raw, "\n");
    else settings[field.name] = raw;
  }
  const body = { settings };
  const key = form.elements.api_key;
  if (form.elements.remove_api_key?.checked) body.api_key = null;
  else if (key && key.value.trim()) body.api_key = key.value.trim();
  return body;
}

async function importBody(form) {
  const file = form.elements.file.files[0];
  if (!file) throw new Error("Choose a file to import.");
  return {
    filename: file.name,
    content: await file.text(),
    content_type: file.type || null,
    published: form.elements.published.checked,
  };
}

function showErrors(form, err) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const box = form.querySelector("[data-errors]");
  if (!err) {
    box.hidden = true;
    return;
  }
  const details = err.body?.error?.details;
  const named = details && !Array.isArray(details) && typeof details === "object" ? Object.entries(details) : [];
  const unplaced = [];
  for (const [key, problem] of named) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`) || form.querySelector(`#err-${CSS.escape(key)}`);
    const field = form.elements[key];
    if (slot) slot.textContent = String(problem);
    else unplaced.push(`${key}: ${problem}`);
    if (field?.setAttribute) field.setAttribute("aria-invalid", "true");
  }
  box.replaceChildren(
    err.message,
    unplaced.length ? el("ul", {}, unplaced.map((line) => el("li", {}, line))) : "",
    Array.isArray(details) ? el("ul", {}, details.map((d) => el("li", {}, d.message || JSON.stringify(d)))) : "",
  );
  box.hidden = false;
}

function showPassages(items) {
  const out = document.getElementById("kb-try-results");
  out.replaceChildren(
    ...(items.length
      ? items.map((p) =>
        el("li", {},
          el("strong", {}, p.title), ` (${p.kind})`,
          el("p", { class: "passage" }, p.text),
          el("small", {}, `cosine ${p.cosine.toFixed(3)} · BM25 ${p.bm25.toFixed(2)} · fused ${p.fused.toFixed(4)}`)))
      : [el("li", { class: "empty" }, "Nothing found: the AI would ask a clarifying question or hand off.")]),
  );
}

function showIntent(result) {
  const words = (s) => String(s).replaceAll("_", " ");
  const pct = (x) => `${Math.round(x * 100)} %`;
  document.getElementById("intent-try-result").replaceChildren(
    result.intent === null
      ? el("p", {}, "No intent: the model could not decide.")
      : el("p", {},
        result.out_of_scope ? "Out of scope (no intent is confident enough). Closest: " : "Detected: ",
        el("strong", {}, words(result.intent)), ` · ${pct(result.confidence)} confidence · ${result.model} model`,
        result.model_version ? ` v${result.model_version}` : ""),
    result.top?.length
      ? el("ol", { "aria-label": "Top intents" }, result.top.map((t) => el("li", {}, `${words(t.intent)} ${pct(t.confidence)}`)))
      : "",
  );
}

function modelText(model) {
  const cur = model.current;
  const last = model.latest;
  const serving = model.serving === "workspace"
    ? `Serving the workspace's model, version ${model.serving_version} (${cur.intent_count} intents, ${cur.example_count} phrases).`
    : "Serving the built-in model.";
  let latest = "Up to date.";
  if (!model.up_to_date) latest = last.state === "failed" ? `Version ${last.version} failed: ${last.error}` : `Version ${last.version} is ${last.state}…`;
  return [el("span", { class: "serving" }, serving), " ", el("span", { class: "latest" }, latest)];
}

for (const field of document.querySelectorAll(".ai-settings [data-type]")) field.dataset.initial = field.value;

// The intents page follows training live (queued → training → ready) from the workspace's events.
const modelBox = document.getElementById("intent-model");
if (modelBox) {
  let timer = null;
  new LiveEvents({
    after: null,
    onEvent: (e) => {
      if (e.type !== "ai.intent_model_updated" && e.type !== "ai.intents_updated") return;
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const model = await api("GET", "/api/v1/ai/intents/model");
        modelBox.replaceChildren(...modelText(model));
        modelBox.dataset.state = model.latest ? model.latest.state : "none";
      }, 100);
    },
  }).connect();
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
  const [method, path] = form.dataset.api.split(" ", 2);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const body = await SHAPES[form.dataset.shape](form);
    const result = await api(method, path, body);
    showErrors(form, null);
    if (form.dataset.shape === "search") return showPassages(result.items);
    if (form.dataset.shape === "intent_test") return showIntent(result);
    if (form.dataset.shape === "import") {
      location.href = `/admin/knowledge?done=imported&created=${result.created}&updated=${result.updated}`;
      return;
    }
    location.href = form.dataset.then;
  } catch (err) {
    showErrors(form, err);
  } finally {
    button.disabled = false;
  }
});
