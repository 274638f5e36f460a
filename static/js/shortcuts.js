// Keyboard shortcuts (as ChatGPT's, so hands already know them): Ctrl/Cmd+Shift+O a new
// chat, Ctrl/Cmd+K search, Ctrl/Cmd+Shift+S the sidebar, Ctrl/Cmd+Shift+C copy the last
// answer, and `?` (not while typing) or Ctrl/Cmd+/ the list of them. Esc stops an answer
// (chat.js). None uses Alt or a bare letter, which screen readers take for themselves.

const app = document.getElementById("app");
const dialog = document.getElementById("shortcuts-dialog");
const mac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

if (mac) for (const key of document.querySelectorAll("kbd[data-mod]")) key.textContent = "⌘";

function typing(target) {
  return Boolean(target.closest?.("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
}

function phone() {
  return window.matchMedia("(max-width: 768px)").matches;
}

function toggleSidebar() {
  if (phone()) {
    document.querySelector("[data-drawer-toggle]")?.click();
    return;
  }
  app?.classList.toggle("sidebar-hidden");
}

function focusSearch() {
  if (phone() && !app?.classList.contains("drawer-open")) document.querySelector("[data-drawer-toggle]")?.click();
  if (!phone()) app?.classList.remove("sidebar-hidden");
  const field = document.getElementById("sidebar-search-q");
  field?.focus();
  field?.select();
}

function copyLastAnswer() {
  const answers = document.querySelectorAll(".msg-assistant [data-action=copy]");
  answers[answers.length - 1]?.click();
}

export function openShortcuts() {
  if (dialog && !dialog.open) dialog.showModal();
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.repeat) return;
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  let action = null;
  if (mod && event.shiftKey && key === "o") action = () => window.location.assign(app?.dataset.newChatUrl || "/");
  else if (mod && !event.shiftKey && key === "k") action = focusSearch;
  else if (mod && event.shiftKey && key === "s") action = toggleSidebar;
  else if (mod && event.shiftKey && key === "c") action = copyLastAnswer;
  else if (mod && !event.shiftKey && key === "/") action = openShortcuts;
  else if (!mod && event.key === "?" && !typing(event.target) && !dialog?.open) action = openShortcuts;
  if (!action) return;
  event.preventDefault();
  action();
});

// A modal <dialog> makes the page behind it inert, but Tab can still leave it for the
// browser's own toolbar: Tab and Shift+Tab go round the dialog's controls instead.
dialog?.addEventListener("keydown", (event) => {
  if (event.key !== "Tab") return;
  const stops = [...dialog.querySelectorAll("button, a[href], [tabindex]:not([tabindex='-1'])")];
  if (!stops.length) return;
  const at = stops.indexOf(document.activeElement);
  const next = event.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : (at + 1) % stops.length;
  event.preventDefault();
  stops[next].focus();
});

for (const opener of document.querySelectorAll("[data-open-shortcuts]")) {
  opener.addEventListener("click", openShortcuts);
}
