// Typesets the math both renderers leave as TeX source (<span class="arithmatex">\(…\)</span>
// and <div class="arithmatex">\[…\]</div>) with the vendored KaTeX. katex.render() builds
// DOM nodes and sets their styles through the CSSOM, which the Content-Security-Policy
// allows; its HTML string output (inline style attributes) would be blocked. KaTeX
// (600 kB) is only fetched once a page has math.

let katexModule = null;

function loadKatex() {
  katexModule ??= import("katex").then((module) => module.default);
  return katexModule;
}

function typeset(katex, el) {
  const display = el.localName === "div";
  const source = el.textContent.trim();
  const tex = source.replace(display ? /^\\\[|\\\]$/g : /^\\\(|\\\)$/g, "");
  el.dataset.tex = tex;
  try {
    // No \href, \url or \html*: the model's TeX is as untrusted as its markdown.
    katex.render(tex, el, { displayMode: display, throwOnError: true, trust: false });
  } catch {
    // Invalid TeX stays readable as its source (KaTeX's own error span is styled inline).
    el.textContent = source;
    el.classList.add("math-error");
  }
}

/** Typesets every math placeholder under root not typeset yet. */
export async function renderMath(root = document) {
  const pending = () => [...root.querySelectorAll(".markdown .arithmatex:not([data-tex])")];
  if (!pending().length) return;
  const katex = await loadKatex();
  // The live rendering may have been replaced while KaTeX loaded: look again.
  for (const el of pending()) typeset(katex, el);
}

renderMath(document);
