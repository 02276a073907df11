// Live preview of an inbox's customer-facing surface (the chat widget) while its settings are edited.
// The preview is the real page, served by Relaydesk with the unsaved values in its query string
// (channels/widget/routes/preview.py); a check of the same values lists the error a save would give and
// readability warnings. Nothing is saved until the admin presses Save.
const DELAY_MS = 250;

function values(form) {
  const params = new URLSearchParams({ form: "1" });
  for (const el of form.elements) {
    if (!el.name || !el.name.startsWith("setting:")) continue;
    const key = el.name.slice("setting:".length);
    if (el.type === "checkbox") {
      if (el.checked) params.set(key, "on");
    } else {
      params.set(key, el.value);
    }
  }
  return params;
}

function show(box, problems) {
  const list = box.querySelector(".preview-problems");
  list.replaceChildren(
    ...problems.map(([kind, text]) => {
      const li = document.createElement("li");
      li.className = kind === "error" ? "health-error" : "warning";
      li.textContent = text;
      return li;
    }),
  );
}

for (const form of document.querySelectorAll("form[data-preview]")) {
  const id = form.querySelector("input[name=id]").value;
  const box = document.querySelector(`[data-preview-for="${id}"]`);
  if (!box) continue;
  const frame = box.querySelector(".preview-frame");
  let timer = null;
  let last = "";
  const update = async (initial) => {
    const query = values(form).toString();
    if (query === last) return;
    last = query;
    const response = await fetch(`${form.dataset.preview}/check?${query}`, {
      credentials: "same-origin",
      cache: "no-store",
    });
    const result = await response.json().catch(() => ({ errors: [], warnings: [] }));
    if (query !== last) return; // a newer edit is on its way
    show(box, [
      ...(result.errors || []).map((e) => ["error", e.message]),
      ...(result.warnings || []).map((w) => ["warning", w]),
    ]);
    if (!initial && !(result.errors || []).length) frame.src = `${form.dataset.preview}?${query}`;
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => update(false), DELAY_MS);
  });
  form.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(() => update(false), DELAY_MS);
  });
  update(true); // the saved values: the frame shows them already; only the warnings are fetched
}
