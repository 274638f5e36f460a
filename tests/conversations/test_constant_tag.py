"""{% constant %} (conversations/templatetags/constant.py): rendered once per language, and
refused at compile time around anything that could differ between two renders."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import translation

LOAD = "{% load i18n icons constant %}"


def render(source: str, language: str, **context: object) -> str:
    with translation.override(language):
        return Template(LOAD + source).render(Context(context))


def test_it_renders_what_its_content_renders_in_each_language_from_one_template():
    template = Template(LOAD + '{% constant %}<b>{% translate "Copy" %}</b>{% endconstant %}')
    outputs = []
    for language in ("en", "zh-hans", "en", "zh-hans"):
        with translation.override(language):
            outputs.append(template.render(Context()))
    assert outputs == ["<b>Copy</b>", "<b>复制</b>", "<b>Copy</b>", "<b>复制</b>"]


def test_icons_and_text_inside_come_out_as_without_it():
    inner = '<span>{% icon "copy" %}{% translate "Next version" %}</span>'
    assert render("{% constant %}" + inner + "{% endconstant %}", "zh-hans") == render(
        inner, "zh-hans"
    )


@pytest.mark.parametrize(
    "inner",
    [
        "{{ title }}",
        '{% translate "Copy" as copy %}',
        "{% translate title %}",
        '{% translate "Copy"|upper %}',
        "{% icon name %}",
        "{% if title %}x{% endif %}",
        "{% blocktranslate %}Hello {{ title }}{% endblocktranslate %}",
    ],
)
def test_anything_that_could_differ_between_renders_is_refused(inner):
    with pytest.raises(TemplateSyntaxError, match="constant"):
        Template(LOAD + "{% constant %}" + inner + "{% endconstant %}")
