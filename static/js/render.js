// Markdown and HTML from the model, made safe for innerHTML. The live answer goes through
// marked, then DOMPurify; the server's HTML (already cleaned by nh3) goes through DOMPurify
// again. Both apply static/render-policy.json, the allow-list conversations/markdown.py
// gives nh3, so the live rendering allows exactly what the stored one does: no forms, no
// style attributes, only the renderers' own classes, and images as links unless the admin
// allows remote images.
import { marked } from "marked";
import DOMPurify from "dompurify";
import policy from "chatweb/render-policy.json" with { type: "json" };
import { overLimits } from "chatweb/math-limits.js";

// breaks: true matches the server's nl2br, so the text does not reflow when the server's
// HTML replaces the live rendering. The rest makes marked's output the shape
// conversations/markdown.py gives the stored HTML (tests/e2e/test_content_browser.py
// compares them on one rich text).
marked.setOptions({ gfm: true, breaks: true });

const escapeHtml = (text) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// Math kept as TeX source in <span/div class="arithmatex">, exactly as pymdownx.arithmatex
// (generic mode) writes it on the server, with the same delimiters and rules; math.js
// typesets both with KaTeX.
const MATH_INLINE = /^(?:\$(?!\s)((?:\\.|[^\\$])+?)(?<!\s)\$|\\\(((?:\\[^)]|[^\\])+?)\\\))/;
const MATH_BLOCK =
  /^ {0,3}(?:\$\$((?:\\.|[^\\])+?)\$\$|\\\[((?:\\[^\]]|[^\\])+?)\\\])[ ]*(?=\n[ \t]*\n|\n?$)/;
// A formula nested too deeply to typeset stays source, marked as the server marks it.
const mathClass = (tex) => (overLimits(tex) ? "math-source" : "arithmatex");
const mathExtensions = [
  {
    name: "mathBlock",
    level: "block",
    start: (src) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
    tokenizer(src) {
      const match = MATH_BLOCK.exec(src);
      if (match) return { type: "mathBlock", raw: match[0], tex: match[1] ?? match[2] };
      return undefined;
    },
    renderer: (token) => `<div class="${mathClass(token.tex)}">\\[${escapeHtml(token.tex)}\\]</div>`,
  },
  {
    name: "mathInline",
    level: "inline",
    start: (src) => src.match(/\$|\\\(/)?.index,
    tokenizer(src) {
      const match = MATH_INLINE.exec(src);
      if (match) return { type: "mathInline", raw: match[0], tex: match[1] ?? match[2] };
      return undefined;
    },
    renderer: (token) => `<span class="${mathClass(token.tex)}">\\(${escapeHtml(token.tex)}\\)</span>`,
  },
];

marked.use({
  extensions: mathExtensions,
  renderer: {
    // A task's box is drawn as text, not an <input> (the policy allows no form fields).
    checkbox({ checked }) {
      return checked ? '<span class="task-box task-done">\u2611</span> ' : '<span class="task-box">\u2610</span> ';
    },
  },
  tokenizer: {
    // ~~strikethrough~~ only; a single ~ stays text, as on the server (H~2~O, ~5 min).
    del(src) {
      return /^~(?!~)/.test(src) ? undefined : false;
    },
  },
  walkTokens(token) {
    // Pygments calls a block without a language "text"; so does the live label.
    if (token.type === "code" && !token.lang) token.lang = "text";
  },
});

const remoteImages = document.documentElement.dataset.remoteImages === "allow";
const classSuffix = new RegExp(policy.classSuffixPattern);
const schemes = policy.urlSchemes.join("|");

// A purifier of our own, so these hooks never reach another user of DOMPurify.
const purify = DOMPurify(window);
const CONFIG = {
  ALLOWED_TAGS: policy.tags,
  ALLOWED_ATTR: [...new Set([...Object.values(policy.attributes).flat(), "class"])],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  // DOMPurify's own shape (relative URLs pass), restricted to the policy's schemes.
  ALLOWED_URI_REGEXP: new RegExp(`^(?:(?:${schemes}):|[^a-z]|[a-z+.\\-]+(?:[^a-z+.\\-:]|$))`, "i"),
  FORBID_CONTENTS: policy.dropWithContent,
  // The result stays in DOMPurify's inert document, where images do not load, until
  // the images are dealt with below.
  RETURN_DOM: true,
};

export function allowedClass(tag, name) {
  if ((policy.classes[tag] ?? []).includes(name)) return true;
  return (policy.classPrefixes[tag] ?? []).some(
    (prefix) => name.startsWith(prefix) && classSuffix.test(name.slice(prefix.length)),
  );
}

purify.addHook("uponSanitizeAttribute", (node, data) => {
  const tag = node.nodeName.toLowerCase();
  if (data.attrName === "class") {
    const kept = data.attrValue.split(/\s+/).filter((name) => name && allowedClass(tag, name));
    if (kept.length) data.attrValue = kept.join(" ");
    else data.keepAttr = false;
  } else if (!(policy.attributes[tag] ?? []).includes(data.attrName)) {
    data.keepAttr = false;
  }
});

purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") node.setAttribute("rel", policy.linkRel);
});

/** Each image becomes a link to its address (its alt text when it has no address). */
function replaceImages(root) {
  for (const img of root.querySelectorAll("img")) {
    const src = img.getAttribute("src");
    const alt = img.getAttribute("alt") ?? "";
    if (src && remoteImages) continue;
    if (!src) {
      img.replaceWith(img.ownerDocument.createTextNode(alt));
      continue;
    }
    const link = img.ownerDocument.createElement("a");
    link.setAttribute("href", src);
    link.className = "remote-image";
    link.rel = policy.linkRel;
    link.textContent = alt || src;
    img.replaceWith(link);
  }
}

function clean(html) {
  const body = purify.sanitize(html, CONFIG);
  replaceImages(body);
  return body.innerHTML;
}

export function renderMarkdown(text) {
  return clean(marked.parse(text, { async: false }));
}

// The server's HTML is already sanitized (nh3) with the same policy; sanitizing it again
// is cheap insurance and leaves allowed markup unchanged.
export function sanitizeHtml(html) {
  return clean(html);
}
