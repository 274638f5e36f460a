// Accessibility fixes for markup that Django's admin builds itself (loaded on every admin
// page by templates/admin/base_site.html); axe-core finds them, test_pages_browser.py.

// The date-and-time widget puts "Date:" and "Time:" before its two inputs as bare text,
// so neither input has a label (axe: label). Each is named by its row's label and word.
for (const box of document.querySelectorAll("p.datetime")) {
  const label = box.closest(".form-row, .fieldBox")?.querySelector("label");
  const field = (label?.textContent ?? "").trim().replace(/[:：]$/, "");
  let word = "";
  for (const node of box.childNodes) {
    if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) {
      word = node.textContent.trim().replace(/[:：]$/, "");
    } else if (node.nodeName === "INPUT" && !node.hasAttribute("aria-label")) {
      node.setAttribute("aria-label", `${field} ${word}`.trim());
    }
  }
}

// The two-box selector (SelectFilter2.js: a user's groups and permissions) labels its
// magnifier icon with aria-label on a plain <span>, which assistive technology ignores
// (axe: aria-prohibited-attr); as an image, its label is read. The boxes are built on
// the window's load event, so this runs after it.
function labelFilterIcons() {
  for (const icon of document.querySelectorAll("span.help-tooltip[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
}

if (document.readyState === "complete") {
  setTimeout(labelFilterIcons);
} else {
  window.addEventListener("load", () => setTimeout(labelFilterIcons));
}
