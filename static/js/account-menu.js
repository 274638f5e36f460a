// The account menu at the sidebar's foot (the menu-button pattern of the ARIA practices):
// Enter, Space or a click opens it on its first item (ArrowUp on the last, ArrowDown on
// the first), the arrows, Home and End move, Esc closes and gives focus back to the
// button, Tab or a click elsewhere closes it.

const button = document.getElementById("account-button");
const menu = document.getElementById("account-menu");

function items() {
  return [...menu.querySelectorAll("[role=menuitem]")];
}

function isOpen() {
  return button.getAttribute("aria-expanded") === "true";
}

function open(focus = "first") {
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  const all = items();
  (focus === "last" ? all[all.length - 1] : all[0])?.focus();
}

function close({ refocus = false } = {}) {
  if (!isOpen()) return;
  menu.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (refocus) button.focus();
}

function move(step) {
  const all = items();
  const at = all.indexOf(document.activeElement);
  all[(at + step + all.length) % all.length]?.focus();
}

if (button && menu) {
  button.addEventListener("click", () => (isOpen() ? close() : open()));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open(event.key === "ArrowUp" ? "last" : "first");
    }
  });

  menu.addEventListener("keydown", (event) => {
    const keys = { ArrowDown: () => move(1), ArrowUp: () => move(-1), Home: () => items()[0]?.focus(), End: () => items().at(-1)?.focus() };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    } else if (event.key === "Escape") {
      // Before the drawer's own Esc handler (sidebar.js): the menu closes first.
      event.preventDefault();
      event.stopPropagation();
      close({ refocus: true });
    } else if (event.key === "Tab") {
      close();
    } else if (event.key === " " && event.target.matches("a[role=menuitem]")) {
      // A link follows on Enter; Space activates it too, as on the menu's buttons.
      event.preventDefault();
      event.target.click();
    }
  });

  // Choosing an entry closes the menu (a link then loads; a form asks first if it must).
  menu.addEventListener("click", (event) => {
    if (event.target.closest("[role=menuitem]")) close({ refocus: true });
  });

  document.addEventListener("pointerdown", (event) => {
    if (isOpen() && !menu.contains(event.target) && !button.contains(event.target)) close();
  });
  menu.addEventListener("focusout", (event) => {
    if (event.relatedTarget && !menu.contains(event.relatedTarget) && event.relatedTarget !== button) close();
  });
}
