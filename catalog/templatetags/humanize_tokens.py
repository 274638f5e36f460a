from django import template

register = template.Library()


@register.filter
def tokens(value: object) -> str:
    """12345 -> "12,345" (a plain thousands separator, whatever the locale settings)."""
    try:
        return f"{int(value or 0):,}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "0"
