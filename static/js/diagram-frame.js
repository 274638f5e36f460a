// Inside the sandboxed diagram frame: an opaque origin with no cookies and no access to
// the app. The chat page posts a mermaid source; this draws it and reports its height.
/* global mermaid */
(() => {
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  // "strict": no click handlers, no HTML labels from the source.
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
  const out = document.getElementById("diagram");
  let count = 0;

  function report(state) {
    const height = Math.ceil(out.getBoundingClientRect().height);
    window.parent.postMessage({ type: "diagram", state, height }, "*");
  }

  window.addEventListener("message", async (event) => {
    if (event.source !== window.parent || event.data?.type !== "render") return;
    count += 1;
    try {
      const { svg } = await mermaid.render(`diagram-${count}`, String(event.data.source));
      out.innerHTML = svg;
      report("drawn");
    } catch (error) {
      const note = document.createElement("p");
      note.className = "diagram-error";
      // The sentence comes translated from the page (diagram_frame.html), the detail from mermaid.
      note.textContent = `${document.body.dataset.failed} ${error?.message ?? error}`;
      out.replaceChildren(note);
      report("failed");
    }
  });

  window.parent.postMessage({ type: "diagram", state: "ready" }, "*");
})();
