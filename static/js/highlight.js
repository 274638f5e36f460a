// A tiny highlighter for code while an answer streams (live-render.js): keywords, strings,
// comments, numbers and function names of common languages, one line at a time with the
// state a line leaves for the next (inside a block comment or a multi-line string), so a
// growing code block only ever highlights its newest line. It writes Pygments' class
// names (k, s2, c1, mi, nf, ...) inside the server's <div class="codehilite"> shape, so the
// theme's colours (app.css) apply and the server's HTML that replaces it when the answer
// ends only settles a few colours. Text is set with text nodes, never as HTML.
import table from "chatweb/highlight-languages.json" with { type: "json" };

// The languages' words and rules (keywords, constants, builtins, the words that name a
// function or class next; comment and string delimiters) and their aliases, as data.
const { languages: LANGUAGES, aliases: ALIASES } = table;
for (const rules of Object.values(LANGUAGES)) {
  for (const key of ["keywords", "constants", "builtins", "definers"]) rules[key] = new Set(rules[key] ?? []);
}

/** The rules for a code block's language, or null (shown plain, as Pygments' "text"). */
export function rulesFor(lang) {
  const name = (lang || "").toLowerCase();
  return LANGUAGES[name] ?? LANGUAGES[ALIASES[name]] ?? null;
}

const NUMBER = /^(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[a-zA-Z]*/;
const WORD = /^[A-Za-z_$][\w$]*/;
const OPERATOR = /^[-+*/%=<>!&|^~?:]+/;

/** The end of a string opened by `quote` at `from` (after the escapes), or -1 on this line. */
function closing(line, from, quote) {
  for (let i = from; i < line.length; i++) {
    if (line[i] === "\\") i++;
    else if (line.startsWith(quote, i)) return i + quote.length;
  }
  return -1;
}

/**
 * Highlights one line (without its newline) under `rules`, starting in `state` (null, or
 * what the previous line left). Returns {nodes: DocumentFragment, state}.
 */
export function highlightLine(rules, line, state = null) {
  const out = document.createDocumentFragment();
  let plain = "";
  const flush = () => {
    if (plain) out.append(plain);
    plain = "";
  };
  const emit = (cls, text) => {
    if (!text) return;
    flush();
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    out.append(span);
  };
  let i = 0;
  let next = null;
  let define = state?.define ?? null;
  // A block comment or a multi-line string carried over from the previous line.
  if (state?.comment) {
    const end = line.indexOf(rules.block[1]);
    if (end < 0) {
      emit("cm", line);
      return { nodes: out, state };
    }
    emit("cm", line.slice(0, end + rules.block[1].length));
    i = end + rules.block[1].length;
  } else if (state?.string) {
    const end = closing(line, 0, state.string);
    if (end < 0) {
      emit("s2", line);
      return { nodes: out, state };
    }
    emit("s2", line.slice(0, end));
    i = end;
  }
  while (i < line.length) {
    const rest = line.slice(i);
    const ch = line[i];
    if (rules.lineComment && rest.startsWith(rules.lineComment)) {
      emit("c1", rest);
      break;
    }
    if (rules.preprocessor && ch === rules.preprocessor && !line.slice(0, i).trim()) {
      emit("cp", rest);
      break;
    }
    if (rules.block && rest.startsWith(rules.block[0])) {
      const end = line.indexOf(rules.block[1], i + rules.block[0].length);
      if (end < 0) {
        emit("cm", rest);
        next = { comment: true };
        break;
      }
      emit("cm", line.slice(i, end + rules.block[1].length));
      i = end + rules.block[1].length;
      continue;
    }
    const triple = rules.triple?.find((q) => rest.startsWith(q));
    const quote = triple ?? rules.quotes?.find((q) => q === ch);
    if (quote) {
      const end = closing(line, i + quote.length, quote);
      if (end < 0 && quote === "'" && !triple) {
        // An apostrophe, a Rust lifetime, a C char being written: not a string yet.
        plain += ch;
        i += 1;
        continue;
      }
      if (end < 0) {
        emit("s2", rest);
        if (triple || quote === rules.multiline) next = { string: quote };
        break;
      }
      const text = line.slice(i, end);
      const isKey = rules.keys && /^\s*:/.test(line.slice(end));
      emit(isKey ? "nt" : "s2", text);
      i = end;
      continue;
    }
    if (rules.variables && ch === "$") {
      const match = /^\$(?:\{[^}]*\}|[A-Za-z_]\w*|[0-9@#?$!*-])/.exec(rest);
      if (match) {
        emit("nv", match[0]);
        i += match[0].length;
        continue;
      }
    }
    const before = i > 0 ? line[i - 1] : "";
    if (/[0-9.]/.test(ch) && !/[\w$]/.test(before)) {
      const match = NUMBER.exec(rest);
      if (match && /\d/.test(match[0])) {
        emit("mi", match[0]);
        i += match[0].length;
        continue;
      }
    }
    const word = WORD.exec(rest)?.[0];
    if (word) {
      const key = rules.caseless ? word.toLowerCase() : word;
      if (define) {
        emit(define === "class" || define === "struct" ? "nc" : "nf", word);
        define = null;
      } else if (rules.keywords.has(key)) {
        emit(rules.constants.has(key) ? "kc" : "k", word);
        if (rules.definers.has(key)) define = key;
      } else if (rules.constants.has(key)) {
        emit("kc", word);
      } else if (rules.builtins.has(key)) {
        emit("nb", word);
      } else if (rules.definers.has(key)) {
        emit("k", word);
        define = key;
      } else {
        plain += word;
      }
      i += word.length;
      continue;
    }
    const op = OPERATOR.exec(rest)?.[0];
    if (op) {
      emit("o", op);
      i += op.length;
      continue;
    }
    plain += ch;
    i += 1;
  }
  flush();
  if (!next && define) next = { define };
  return { nodes: out, state: next };
}

/** A whole finished code block's text, highlighted into `code` (emptied first). */
export function highlightInto(code, rules, text) {
  code.replaceChildren();
  let state = null;
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    const result = highlightLine(rules, line, state);
    state = result.state;
    code.append(result.nodes);
    if (index < lines.length - 1) code.append("\n");
  });
}
