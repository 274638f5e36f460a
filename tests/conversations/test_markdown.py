"""conversations.markdown.render: markdown in, sanitized HTML out."""

from __future__ import annotations

import re

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

    assert '<div class="codehilite">' in html
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
    assert 'src="https://example.com/a.png"' in html


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
    assert "<img" in html


def test_it_escapes_plain_text():
    assert render("a < b & c") == "<p>a &lt; b &amp; c</p>"


def test_it_escapes_html_inside_code():
    html = render("`<b>not bold</b>`")

    assert "<code>&lt;b&gt;not bold&lt;/b&gt;</code>" in html
