// The streaming answer's rendering, at a cost per frame that does not grow with the answer.
//
// The answer's markdown is cut where marked's own lexer says a top-level block is over (a
// block followed by another one can no longer change as text is appended): those blocks
// are rendered once, appended to the answer and never touched again ("frozen"). Each frame
// renders only the tail, the last block, which is being written. When that block is a
// fenced code block, it is not rendered by marked at all: its finished lines are
// highlighted one by one (highlight.js) and appended to the block, and only the line being
// written is redrawn, until its closing fence freezes it. Code blocks in frozen markdown
// are highlighted once, as they freeze. The server's HTML (Pygments) replaces all of it
// when the answer ends (chat.js), which settles the colours and nothing else: the live
// code blocks have the server's shape (<div class="language-x codehilite"><pre><code>).
import { marked } from "marked";
import { allowedClass, renderMarkdown } from "chatweb/render.js";
import { highlightInto, highlightLine, rulesFor } from "chatweb/highlight.js";

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})([^\n]*)$/;

/** A code block of the server's shape: div.language-x.codehilite > pre > (span, code). */
function codeBlock(lang) {
  const host = document.createElement("div");
  const name = `language-${lang || "text"}`;
  host.className = allowedClass("div", name) ? `${name} codehilite` : "codehilite";
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  pre.append(document.createElement("span"), code);
  host.append(pre);
  return { host, code };
}

/** marked's <pre><code class="language-x"> under root, highlighted in the server's shape. */
function highlightFinished(root) {
  for (const code of root.querySelectorAll("pre > code")) {
    const pre = code.parentElement;
    if (pre.parentElement?.classList.contains("codehilite")) continue;
    const cls = [...code.classList].find((c) => c.startsWith("language-"));
    const lang = cls ? cls.slice("language-".length) : "text";
    const block = codeBlock(lang);
    const rules = rulesFor(lang);
    const text = code.textContent.replace(/\n$/, "");
    if (rules) highlightInto(block.code, rules, text);
    else block.code.textContent = text;
    block.code.append("\n");
    pre.replaceWith(block.host);
  }
}

function fragmentOf(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  highlightFinished(template.content);
  return template.content;
}

export class LiveMarkdown {
  constructor(body) {
    this.body = body;
    this.reset();
  }

  /** Starts over (the text was replaced, by a snapshot): the next update renders it all. */
  reset() {
    this.src = "";
    this.seen = 0;
    this.frozenAt = 0;
    // The body's first nodes are the frozen blocks (code-copy.js may wrap one in its
    // frame, which keeps the count); the ones after them are the tail.
    this.frozenNodes = 0;
    this.open = null;
    this.body.replaceChildren();
  }

  /** Shows `text` (the whole answer so far; it only grows between resets). */
  update(text) {
    if (text.length < this.seen) this.reset();
    let added = text.slice(this.seen);
    // A "\r" may be the first half of "\r\n": wait for the next character.
    if (added.endsWith("\r")) added = added.slice(0, -1);
    this.seen += added.length;
    this.src += added.replace(/\r\n?/g, "\n");
    if (this.open && !this.growOpenBlock()) return;
    this.renderTail();
  }

  clearTail() {
    while (this.body.childNodes.length > this.frozenNodes) this.body.lastChild.remove();
  }

  freeze(fragment) {
    this.clearTail();
    this.body.append(fragment);
    this.frozenNodes = this.body.childNodes.length;
  }

  renderTail() {
    const tail = this.src.slice(this.frozenAt);
    const tokens = marked.lexer(tail);
    let last = tokens.length - 1;
    while (last >= 0 && tokens[last].type === "space") last--;
    if (last < 0) {
      this.clearTail();
      return;
    }
    // Every block before the last one is finished: render it once, keep it.
    const done = tokens
      .slice(0, last)
      .map((t) => t.raw)
      .join("");
    // marked normalizes some text (tabs, say); only freeze what matches the source exactly.
    if (done && tail.startsWith(done)) {
      this.freeze(fragmentOf(renderMarkdown(done)));
      this.frozenAt += done.length;
      const token = tokens[last];
      if (token.type === "code" && this.openBlock()) {
        if (!this.growOpenBlock()) return;
        this.renderTail();
        return;
      }
    } else if (!done && tokens[last].type === "code" && this.openBlock()) {
      if (!this.growOpenBlock()) return;
      this.renderTail();
      return;
    }
    const rest = this.src.slice(this.frozenAt);
    const fragment = fragmentOf(renderMarkdown(rest));
    this.clearTail();
    this.body.append(fragment);
  }

  /** The tail starts with a code fence: show it as a block that grows line by line. */
  openBlock() {
    const end = this.src.indexOf("\n", this.frozenAt);
    if (end < 0) return false; // the info string is still being written
    const match = FENCE_OPEN.exec(this.src.slice(this.frozenAt, end));
    if (!match || (match[2][0] === "`" && match[3].includes("`"))) return false;
    const lang = match[3].trim().split(/\s+/)[0] || "text";
    const { host, code } = codeBlock(lang);
    const partial = document.createElement("span");
    code.append(partial);
    // Frozen from the start: nothing is drawn after it until its closing fence.
    this.freeze(host);
    this.open = {
      host,
      code,
      partial,
      rules: rulesFor(lang),
      indent: match[1].length,
      fence: match[2],
      at: end + 1, // the first line not yet shown for good
      state: null,
    };
    return true;
  }

  /** Shows the open code block's new lines; false while it is still open. */
  growOpenBlock() {
    const open = this.open;
    const closer = new RegExp(`^ {0,3}${open.fence[0] === "`" ? "`" : "~"}{${open.fence.length},}[ \\t]*$`);
    let end = this.src.indexOf("\n", open.at);
    while (end >= 0) {
      const line = this.src.slice(open.at, end);
      open.at = end + 1;
      if (closer.test(line)) {
        open.partial.remove();
        this.open = null;
        this.frozenAt = open.at;
        return true;
      }
      const shown = this.line(line);
      open.partial.before(shown.nodes, "\n");
      open.state = shown.state;
      end = this.src.indexOf("\n", open.at);
    }
    // The line being written, redrawn each frame; not a closing fence in the making.
    const rest = this.src.slice(open.at);
    if (/^ {0,3}(`+|~+)$/.test(rest) && rest.trim()[0] === open.fence[0]) {
      open.partial.replaceChildren();
    } else {
      open.partial.replaceChildren(this.line(rest).nodes);
    }
    if (this.src.length === open.at) open.partial.replaceChildren();
    return false;
  }

  line(text) {
    const open = this.open;
    const stripped = text.replace(new RegExp(`^ {0,${open.indent}}`), "");
    if (!open.rules) {
      const nodes = document.createDocumentFragment();
      nodes.append(stripped);
      return { nodes, state: null };
    }
    return highlightLine(open.rules, stripped, open.state);
  }
}
