// Typesets the math both renderers leave as TeX source (<span class="arithmatex">\(…\)</span>
// and <div class="arithmatex">\[…\]</div>) with the vendored KaTeX. katex.render() builds
// DOM nodes and sets their styles through the CSSOM, which the Content-Security-Policy
// allows; its HTML string output (inline style attributes) would be blocked. KaTeX
// (600 kB) is only fetched once a page has math.
//
// A formula over the limits of math-limits.js (nested too deeply: it would crash the tab)
// is shown as its source, checked twice: on its TeX before KaTeX sees it, then on KaTeX's
// parse tree (macros expanded) before anything is drawn.
import { KATEX_OPTIONS, LIMITS, overLimits, treeDepth } from "chatweb/math-limits.js";

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
  const options = { ...KATEX_OPTIONS, displayMode: display };
  try {
    if (overLimits(tex) || treeDepth(katex.__parse(tex, options)) > LIMITS.maxTreeDepth) {
      showSource(el, source);
      return;
    }
    katex.render(tex, el, options);
  } catch {
    // Invalid TeX (or over maxExpand) stays readable as its source (KaTeX's own error
    // span is styled inline).
    el.textContent = source;
    el.classList.add("math-error");
  }
}

/** A formula too deep to typeset: its source, as text, as the server marks one. */
function showSource(el, source) {
  el.textContent = source;
  el.classList.replace("arithmatex", "math-source");
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
