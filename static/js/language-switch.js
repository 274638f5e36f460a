// The sign-in page's language switcher: choosing a language submits the form at once
// (Django's set_language, CSRF-protected); without JS the button does it.
for (const form of document.querySelectorAll("[data-language-switch]")) {
  form.querySelector("[data-language-submit]")?.setAttribute("hidden", "");
  form.querySelector("select")?.addEventListener("change", () => form.requestSubmit());
}
