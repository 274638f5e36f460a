// "Compare with…" on an answer: the menu of the other models the user may use (rendered
// once by the server in chat.html, #compare-menu), opened beside the answer's button.
// Choosing a model calls onChoose(messageId, model); chat.js sends the `compare` frame
// (docs/protocol.md). The menu-button pattern of the ARIA practices: arrows, Home/End,
// Esc back to the button, Tab or a click elsewhere closes it.

export function setupCompareMenu({ onChoose }) {
  const menu = document.getElementById("compare-menu");
  // Fewer than two models: nothing to compare with, and the buttons go.
  if (!menu) document.documentElement.classList.add("no-compare");
  let opener = null;

  function items() {
    return [...menu.querySelectorAll('[role="menuitem"]')].filter((item) => !item.hidden);
  }

  function close({ focus = false } = {}) {
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    opener?.setAttribute("aria-expanded", "false");
    if (focus && opener?.isConnected) opener.focus();
    opener = null;
  }

  function place(button) {
    const box = button.getBoundingClientRect();
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    const left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8));
    // Below the button, or above it when the window ends first.
    const below = box.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? Math.max(8, box.top - height - 4) : below;
    menu.style.left = `${left}px`;
    menu.style.top = `${top}px`;
  }

  function open(button) {
    const article = button.closest(".msg");
    const current = article?.querySelector("[data-model]")?.textContent.trim() ?? "";
    // The other models: the answer's own is not offered.
    for (const item of menu.querySelectorAll('[role="menuitem"]')) {
      item.hidden = item.dataset.model === current;
    }
    menu.dataset.messageId = article.dataset.messageId;
    opener = button;
    button.setAttribute("aria-expanded", "true");
    menu.hidden = false;
    place(button);
    items()[0]?.focus();
  }

  function toggle(button) {
    if (!menu) return;
    const same = opener === button && !menu.hidden;
    close();
    if (!same) open(button);
  }

  if (menu) {
    menu.addEventListener("click", (event) => {
      const item = event.target.closest('[role="menuitem"]');
      if (!item) return;
      const messageId = Number(menu.dataset.messageId);
      close({ focus: true });
      onChoose(messageId, item.dataset.model);
    });
    const moves = {
      ArrowDown: (all, at) => all[(at + 1) % all.length],
      ArrowUp: (all, at) => all[(at - 1 + all.length) % all.length],
      Home: (all) => all[0],
      End: (all) => all.at(-1),
    };
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // Esc here closes the menu; it does not stop an answer
        close({ focus: true });
        return;
      }
      if (event.key === "Tab") {
        close();
        return;
      }
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      const all = items();
      move(all, all.indexOf(document.activeElement))?.focus();
    });
    document.addEventListener("click", (event) => {
      if (menu.hidden || menu.contains(event.target) || event.target.closest?.('[data-action="compare"]')) return;
      close();
    });
    window.addEventListener("resize", () => close());
    document.getElementById("thread")?.addEventListener("scroll", () => close(), { passive: true });
  }

  return { toggle, close };
}
