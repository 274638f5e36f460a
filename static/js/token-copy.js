// The new API token's Copy button (the settings page, in the one response that made the
// token). The address becomes the settings page's own, so a reload asks for the page
// again instead of posting the form once more: the secret is never shown twice.
import { copyText } from "chatweb/code-copy.js";

const box = document.getElementById("new-token");
if (box) {
  history.replaceState(null, "", box.dataset.settingsUrl);
  const secret = document.getElementById("new-token-secret");
  const button = document.getElementById("new-token-copy");
  const label = button.querySelector("span");
  const copyLabel = label.textContent;
  button.addEventListener("click", async () => {
    const ok = await copyText(secret.textContent);
    label.textContent = ok ? gettext("Copied!") : gettext("Copy failed");
    button.dataset.copied = ok ? "true" : "false";
    clearTimeout(button.resetTimer);
    button.resetTimer = setTimeout(() => {
      label.textContent = copyLabel;
      delete button.dataset.copied;
    }, 2000);
  });
}
