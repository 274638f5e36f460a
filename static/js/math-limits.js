// Limits on the math KaTeX typesets: a formula nested deeply enough makes the browser's
// layout recurse until the tab crashes (200 nested superscripts did, issue 17), and
// KaTeX has no option for depth. Over a limit, a formula is shown as its source.
//
// The numbers are in static/render-policy.json ("math"), which conversations/markdown.py
// reads too: the server marks the same formulas (class "math-source") with the same
// count, math_depth(), so the stored HTML never asks the browser to typeset them.
import policy from "chatweb/render-policy.json" with { type: "json" };

export const LIMITS = policy.math;

// KaTeX's own limits: macro expansions (a macro that expands itself would otherwise
// run up to 1000 times) and the size of \rule, \kern and the like, in em.
export const KATEX_OPTIONS = Object.freeze({
  throwOnError: true,
  // No \href, \url or \html*: the model's TeX is as untrusted as its markdown.
  trust: false,
  maxExpand: LIMITS.maxExpand,
  maxSize: LIMITS.maxSize,
});

const OPENERS = new Set(["left", "begin"]);
const CLOSERS = new Set(["right", "end"]);
// Commands followed by a delimiter, which is neither a group nor an optional argument:
// \left[ … \right) is one level.
const DELIMITED = /^(?:left|right|middle|[Bb]igg?[lrm]?)$/;

/**
 * How deeply `tex` nests, read from its source: groups `{…}`, `\left…\right`,
 * `\begin…\end`, and an optional argument `[…]` right after a command (`\sqrt[…]`).
 * The same count as math_depth() in conversations/markdown.py.
 */
export function texDepth(tex) {
  let depth = 0;
  let deepest = 0;
  let brackets = 0; // optional arguments open
  let afterCommand = false;
  let delimiter = false; // the next token is a \left/\right delimiter
  for (let i = 0; i < tex.length; i += 1) {
    const c = tex[i];
    if (/\s/.test(c)) continue;
    let step = 0; // +1 opens a level, -1 closes one
    let name = "";
    if (c === "\\") {
      let j = i + 1;
      while (j < tex.length && /[A-Za-z]/.test(tex[j])) j += 1;
      name = tex.slice(i + 1, j);
      i = name ? j - 1 : i + 1; // a command word, or an escaped character (\{ \\ …)
    }
    if (delimiter) {
      delimiter = false;
      afterCommand = false;
      continue;
    }
    if (name) {
      if (OPENERS.has(name)) step = 1;
      else if (CLOSERS.has(name)) step = -1;
      delimiter = DELIMITED.test(name);
    } else if (c === "{") {
      step = 1;
    } else if (c === "}") {
      step = -1;
    } else if (c === "[" && afterCommand) {
      step = 1;
      brackets += 1;
    } else if (c === "]" && brackets > 0) {
      step = -1;
      brackets -= 1;
    }
    depth = Math.max(0, depth + step);
    deepest = Math.max(deepest, depth);
    afterCommand = Boolean(name);
  }
  return deepest;
}

/** Whether `tex` nests deeper than the limit (checked before KaTeX sees it). */
export function overLimits(tex) {
  return texDepth(tex) > LIMITS.maxDepth;
}

/** The depth of KaTeX's parse tree (macros expanded): nodes within nodes. */
export function treeDepth(tree) {
  let deepest = 0;
  const stack = [[tree, 0]];
  while (stack.length) {
    const [value, depth] = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth]);
    } else if (value && typeof value === "object") {
      const inner = typeof value.type === "string" ? depth + 1 : depth;
      deepest = Math.max(deepest, inner);
      for (const [key, item] of Object.entries(value)) {
        if (key !== "loc" && item && typeof item === "object") stack.push([item, inner]);
      }
    }
  }
  return deepest;
}
