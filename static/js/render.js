// Live markdown: the model's text goes through marked, then DOMPurify, and only then
// into innerHTML. The server's sanitized HTML replaces this rendering when the answer ends.
import { marked } from "marked";
import DOMPurify from "dompurify";

// breaks: true matches the server's nl2br, so the text does not reflow when the server's
// HTML replaces the live rendering.
marked.setOptions({ gfm: true, breaks: true });

export function renderMarkdown(text) {
  return DOMPurify.sanitize(marked.parse(text, { async: false }));
}

// The server's HTML is already sanitized (nh3); sanitizing it again is cheap insurance
// and leaves safe markup unchanged.
export function sanitizeHtml(html) {
  return DOMPurify.sanitize(html);
}
