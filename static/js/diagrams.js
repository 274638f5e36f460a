// Mermaid code blocks become diagrams once their answer is complete (while it streams,
// the source is shown). Each is drawn in a sandboxed frame (conversations/frames.py):
// mermaid needs inline styles, which the app's Content-Security-Policy forbids, and the
// frame keeps the model's diagram away from the app. A button switches to the source.

const frameUrl = document.documentElement.dataset.diagramFrame;
const MIN_HEIGHT = 40;
const MAX_HEIGHT = 2000;
const frames = new WeakMap(); // the frame's window -> { iframe, block, source }

window.addEventListener("message", (event) => {
  const entry = frames.get(event.source);
  if (!entry || event.data?.type !== "diagram") return;
  if (event.data.state === "ready") {
    entry.iframe.contentWindow.postMessage({ type: "render", source: entry.source }, "*");
    return;
  }
  const height = Math.min(Math.max(Number(event.data.height) || 0, MIN_HEIGHT), MAX_HEIGHT);
  entry.iframe.style.height = `${height}px`;
  entry.block.dataset.diagram = event.data.state === "drawn" ? "drawn" : "failed";
});

function toggleButton(iframe, host) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "diagram-toggle";
  button.textContent = gettext("Source");
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => {
    const showSource = host.hidden;
    host.hidden = !showSource;
    iframe.hidden = showSource;
    button.textContent = showSource ? gettext("Diagram") : gettext("Source");
    button.setAttribute("aria-pressed", String(showSource));
  });
  return button;
}

/** Draws every complete mermaid block under root that is not drawn yet. */
export function renderDiagrams(root = document) {
  if (!frameUrl) return;
  for (const block of root.querySelectorAll(".markdown .code-block")) {
    if (block.dataset.diagram || block.closest(".is-streaming")) continue;
    if (block.querySelector(".code-lang")?.textContent !== "mermaid") continue;
    const pre = block.querySelector("pre");
    const host = pre.parentElement.classList.contains("codehilite") ? pre.parentElement : pre;
    const iframe = document.createElement("iframe");
    iframe.className = "diagram-frame";
    iframe.setAttribute("sandbox", "allow-scripts");
    iframe.title = gettext("Diagram");
    block.dataset.diagram = "loading";
    host.hidden = true;
    host.before(iframe);
    block.querySelector(".copy-code")?.before(toggleButton(iframe, host));
    frames.set(iframe.contentWindow, { iframe, block, source: pre.textContent });
    iframe.src = frameUrl;
  }
}
