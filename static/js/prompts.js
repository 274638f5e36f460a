// The composer's prompt picker: "/" at the start of the message box opens the user's
// saved prompts (and published ones); typing filters by title; arrows move, Enter or a
// click puts the prompt's text in the box, Esc closes. The list is fetched once, when
// "/" is first typed.
const textarea = document.getElementById("composer-text");
const form = textarea?.form;
const box = textarea?.closest(".composer-box");
let prompts = null;
let loading = null;
let matches = [];
let active = 0;
let listbox = null;

async function load() {
  if (prompts) return prompts;
  loading ??= fetch("/prompts/picker.json", { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : { prompts: [] }))
    .then((data) => (prompts = data.prompts))
    .catch(() => {
      loading = null;
      return [];
    });
  return loading;
}

function ensureListbox() {
  if (listbox) return listbox;
  listbox = document.createElement("ul");
  listbox.id = "prompt-picker";
  listbox.className = "prompt-picker";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "Saved prompts");
  listbox.hidden = true;
  box.append(listbox);
  listbox.addEventListener("mousedown", (event) => {
    const option = event.target.closest("[role=option]");
    if (!option) return;
    event.preventDefault(); // Keep the focus in the message box.
    choose(Number(option.dataset.index));
  });
  textarea.setAttribute("aria-controls", listbox.id);
  return listbox;
}

function close() {
  if (!listbox || listbox.hidden) return;
  listbox.hidden = true;
  textarea.removeAttribute("aria-activedescendant");
  textarea.setAttribute("aria-expanded", "false");
}

function render() {
  const list = ensureListbox();
  list.replaceChildren();
  if (!matches.length) {
    const empty = document.createElement("li");
    empty.className = "prompt-empty";
    empty.textContent = prompts?.length ? "No prompt matches." : "No saved prompts yet: add some on the Prompts page.";
    list.append(empty);
  }
  matches.forEach((prompt, index) => {
    const option = document.createElement("li");
    option.id = `prompt-option-${index}`;
    option.setAttribute("role", "option");
    option.dataset.index = String(index);
    option.setAttribute("aria-selected", String(index === active));
    const title = document.createElement("span");
    title.className = "prompt-option-title";
    title.textContent = prompt.title;
    const text = document.createElement("span");
    text.className = "prompt-option-text";
    text.textContent = prompt.text.length > 120 ? `${prompt.text.slice(0, 120)}…` : prompt.text;
    option.append(title, text);
    list.append(option);
  });
  list.hidden = false;
  textarea.setAttribute("aria-expanded", "true");
  if (matches.length) {
    textarea.setAttribute("aria-activedescendant", `prompt-option-${active}`);
    list.querySelector(`#prompt-option-${active}`)?.scrollIntoView({ block: "nearest" });
  }
}

function choose(index) {
  const prompt = matches[index];
  if (!prompt) return;
  textarea.value = prompt.text;
  close();
  textarea.dispatchEvent(new Event("input", { bubbles: true })); // Let the box resize.
  textarea.focus();
  textarea.setSelectionRange(textarea.value.length, textarea.value.length);
}

async function update() {
  const value = textarea.value;
  if (!value.startsWith("/") || value.includes("\n")) {
    close();
    return;
  }
  const all = await load();
  if (textarea.value !== value) return;
  const needle = value.slice(1).trim().toLowerCase();
  matches = all.filter((p) => p.title.toLowerCase().includes(needle) || (needle && p.text.toLowerCase().includes(needle))).slice(0, 50);
  active = 0;
  render();
}

if (textarea && form && box) {
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.addEventListener("input", update);
  textarea.addEventListener("blur", () => window.setTimeout(close, 100));
  // Capture on the form: this runs before the composer's own Enter-to-send.
  form.addEventListener(
    "keydown",
    (event) => {
      if (event.target !== textarea || !listbox || listbox.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        event.stopImmediatePropagation();
        if (!matches.length) return;
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
        render();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        if (!matches.length) return;
        event.preventDefault();
        event.stopImmediatePropagation();
        choose(active);
      } else if (event.key === "Escape" || event.key === "Tab") {
        if (event.key === "Escape") {
          event.preventDefault();
          event.stopImmediatePropagation();
        }
        close();
      }
    },
    true,
  );
}
