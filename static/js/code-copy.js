// A header with the language and a Copy button on every code block, for the server's
// <div class="codehilite"><pre> and for marked's <pre><code class="language-x">.

const COPY_LABEL = gettext("Copy");
const COPIED_LABEL = gettext("Copied!");
const SVG_NS = "http://www.w3.org/2000/svg";

function copyIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const rect = document.createElementNS(SVG_NS, "rect");
  for (const [k, v] of Object.entries({ x: 9, y: 9, width: 11, height: 11, rx: 2 })) {
    rect.setAttribute(k, v);
  }
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", "M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1");
  svg.append(rect, path);
  return svg;
}

/** marked writes <pre><code class="language-x">; the server <div class="language-x codehilite">. */
function languageOf(pre) {
  for (const el of [pre.querySelector("code"), pre.parentElement]) {
    const cls = el ? [...el.classList].find((c) => c.startsWith("language-")) : null;
    if (cls) return cls.slice("language-".length);
  }
  return "";
}

/** Frames every code block under root with its language and a Copy button. */
export function enhanceCodeBlocks(root = document) {
  for (const pre of root.querySelectorAll(".markdown pre")) {
    if (pre.closest(".code-block")) continue;
    const parent = pre.parentElement;
    const host = parent.classList.contains("codehilite") ? parent : pre;
    const frame = document.createElement("div");
    frame.className = "code-block";
    const head = document.createElement("div");
    head.className = "code-head";
    const lang = document.createElement("span");
    lang.className = "code-lang";
    lang.textContent = languageOf(pre);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.setAttribute("aria-label", gettext("Copy code"));
    const label = document.createElement("span");
    label.textContent = COPY_LABEL;
    button.append(copyIcon(), label);
    head.append(lang, button);
    host.replaceWith(frame);
    frame.append(head, host);
  }
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused or no focus: fall through to the old way.
    }
  }
  // Plain-HTTP deployments (a LAN address) have no Clipboard API.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-code");
  if (!button) return;
  const pre = button.closest(".code-block")?.querySelector("pre");
  if (!pre) return;
  const ok = await copyText(pre.textContent.replace(/\n$/, ""));
  const label = button.querySelector("span");
  label.textContent = ok ? COPIED_LABEL : gettext("Copy failed");
  button.dataset.copied = ok ? "true" : "false";
  clearTimeout(button._resetTimer);
  button._resetTimer = setTimeout(() => {
    label.textContent = COPY_LABEL;
    delete button.dataset.copied;
  }, 1500);
});

enhanceCodeBlocks(document);
