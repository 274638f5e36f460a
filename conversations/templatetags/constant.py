"""{% constant %}…{% endconstant %}: markup with no variable in it, rendered once per language.

A long conversation's page repeats the same buttons, labels and icons for every message;
Django renders each {% translate %} and {% icon %} again every time (a 500-message page
spent about a third of its time in translate tags). Inside {% constant %} only text,
{% translate "literal" %} (no `as`, no context) and tags whose arguments are all literals
(such as {% icon "copy" %}) are allowed, checked when the template is compiled, so what it
renders depends on nothing but the active language: rendered once per language and block,
then reused.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import Node, NodeList, TextNode
from django.template.library import SimpleNode
from django.templatetags.i18n import TranslateNode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()


def _is_literal(expression: Any) -> bool:
    """A filter expression without filters whose value is a literal ('text', 3)."""
    if expression.filters:
        return False
    # A literal is resolved when compiled (is_var False), except that {% translate %} wraps
    # its string in a Variable again, whose `literal` is then set.
    return not expression.is_var or getattr(expression.var, "literal", None) is not None


def _constant(node: Node) -> bool:
    if isinstance(node, TextNode):
        return True
    if isinstance(node, TranslateNode):
        return (
            node.asvar is None
            and node.message_context is None
            and _is_literal(node.filter_expression)
        )
    if isinstance(node, SimpleNode):
        return (
            node.target_var is None
            and not node.takes_context
            and all(_is_literal(arg) for arg in node.args)
            and all(_is_literal(arg) for arg in node.kwargs.values())
        )
    return False


class ConstantNode(Node):
    def __init__(self, nodelist: NodeList) -> None:
        self.nodelist = nodelist
        self.rendered: dict[str | None, SafeString] = {}  # by language

    def render(self, context: template.Context) -> SafeString:
        # Literals are safe strings (Django does not escape them), so autoescape does not
        # change the output: the language alone does.
        language = get_language()
        markup = self.rendered.get(language)
        if markup is None:
            markup = self.rendered[language] = mark_safe(self.nodelist.render(context))
        return markup


@register.tag
def constant(parser: template.base.Parser, token: template.base.Token) -> ConstantNode:
    nodelist = parser.parse(("endconstant",))
    parser.delete_first_token()
    for node in nodelist:
        if not _constant(node):
            raise template.TemplateSyntaxError(
                f"{{% constant %}} holds only text, {{% translate 'literal' %}} and tags with "
                f"literal arguments; not {node!r}"
            )
    return ConstantNode(nodelist)
