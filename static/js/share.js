// The chat's Share button: make the link, copy it, say so. Without JS the form posts
// and the Shared links page shows the new link.
import { showToast } from "chatweb/toast.js";

const form = document.getElementById("share-form");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
    });
    const data = await response.json();
    if (!data.ok) {
      showToast(data.error || "Could not share this chat.");
      return;
    }
    form.dataset.url = data.url;
    form.closest("details")?.removeAttribute("open");
    try {
      await navigator.clipboard.writeText(data.url);
      showToast("Link copied. Anyone with it can read this chat as it is now.", "info");
    } catch {
      showToast(`Anyone with this link can read this chat as it is now: ${data.url}`, "info");
    }
  } catch {
    showToast("Could not share this chat. Check your connection.");
  }
});
