// The conversation's settings form (model, "Use context", custom instructions, system
// prompt). Without JS it posts and redirects back; with JS each change is saved at once
// through fetch.
import { showToast } from "chatweb/toast.js";

const form = document.getElementById("conv-settings");
const note = document.getElementById("settings-note");

async function save(message) {
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    if (note) {
      note.textContent = message;
      setTimeout(() => {
        note.textContent = "";
      }, 2500);
    }
    return true;
  } catch {
    showToast(gettext("The settings could not be saved. Check your connection and try again."));
    return false;
  }
}

if (form) {
  const toggle = form.querySelector("#context-toggle");
  toggle?.addEventListener("change", async () => {
    const ok = await save(toggle.checked ? gettext("Context on.") : gettext("Context off."));
    if (!ok) toggle.checked = !toggle.checked;
  });
  const instructions = form.querySelector("#instructions-toggle");
  instructions?.addEventListener("change", async () => {
    const ok = await save(
      instructions.checked ? gettext("Custom instructions on.") : gettext("Custom instructions off."),
    );
    if (!ok) instructions.checked = !instructions.checked;
  });
  form.querySelector("#model-select")?.addEventListener("change", () => save(gettext("Model saved.")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(gettext("System prompt saved."));
  });
}
