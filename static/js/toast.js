// Small transient notices (rejected frames, connection trouble). Text only, never HTML.

const DISMISS_MS = 6000;

export function showToast(text, kind = "error") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const toast = document.createElement("div");
  toast.className = kind === "error" ? "toast" : "toast toast-info";
  toast.textContent = text;
  region.append(toast);
  setTimeout(() => toast.remove(), DISMISS_MS);
}

// Notices the server rendered into the page (a failed rename, say) go away the same way.
for (const toast of document.querySelectorAll("#toasts .toast")) {
  setTimeout(() => toast.remove(), DISMISS_MS);
}
