"""The prompt library: a user's saved prompts, and the ones administrators publish.

Import and export speak both JSON shapes chatgpt-web's prompt store accepts:
[{"key": title, "value": text}] (what it exports) and [{"act": title, "prompt": text}]
(the awesome-chatgpt-prompts lists it links to). As there, an entry whose title or text
the user already has is skipped; a malformed file is refused whole.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chatweb import visibility
from conversations import fields
from conversations.actions import ActionError
from conversations.models import PROMPT_TEXT_MAX, PROMPT_TITLE_MAX, Prompt

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_PROMPTS = 2_000
Shape = Literal["key", "act"]
SHAPES: dict[str, tuple[str, str]] = {"key": ("key", "value"), "act": ("act", "prompt")}


def _clean(title: object, text: object) -> tuple[str, str]:
    if not isinstance(title, str) or visibility.is_blank(title):
        raise ActionError("prompt_title", _("Give the prompt a title."))
    if not isinstance(text, str) or not text.strip():
        raise ActionError("prompt_text", _("Write the prompt's text."))
    title = " ".join(title.split())
    if len(title) > PROMPT_TITLE_MAX:
        raise ActionError(
            "prompt_title",
            _("The title is longer than %(count)s characters.") % {"count": PROMPT_TITLE_MAX},
        )
    if len(text) > PROMPT_TEXT_MAX:
        raise ActionError(
            "prompt_text",
            _("The text is longer than %(count)s characters.") % {"count": f"{PROMPT_TEXT_MAX:,}"},
        )
    return fields.clean_text(title), fields.clean_text(text)


def _check_unique(user_id: int, title: str, exclude: int | None = None) -> None:
    clash = Prompt.objects.filter(user_id=user_id, title=title)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ActionError(
            "prompt_exists", _("You already have a prompt called “%(title)s”.") % {"title": title}
        )


def visible(*, user: AbstractBaseUser | AnonymousUser) -> list[Prompt]:
    return list(Prompt.objects.visible_to(user))


def get_own(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Prompt:
    """The user's own prompt (a published one of someone else's is not theirs to edit)."""
    prompt = (
        Prompt.objects.filter(pk=pk, user_id=user.pk).first() if user.is_authenticated else None
    )
    if prompt is None:
        raise ActionError("not_found", _("No such prompt."))
    return prompt


def add(*, user: AbstractBaseUser, title: object, text: object) -> Prompt:
    clean_title, clean_text = _clean(title, text)
    with transaction.atomic():
        _check_unique(user.pk, clean_title)
        return Prompt.objects.create(user_id=user.pk, title=clean_title, text=clean_text)


def edit(*, prompt: Prompt, title: object, text: object) -> Prompt:
    clean_title, clean_text = _clean(title, text)
    with transaction.atomic():
        _check_unique(prompt.user_id, clean_title, exclude=prompt.pk)
        prompt.title, prompt.text, prompt.updated_at = clean_title, clean_text, timezone.now()
        prompt.save(update_fields=["title", "text", "updated_at"])
    return prompt


def delete(*, prompt: Prompt) -> None:
    prompt.delete()


def export(*, user: AbstractBaseUser, shape: Shape = "key") -> list[dict[str, str]]:
    """The user's own prompts in one of chatgpt-web's shapes."""
    key, value = SHAPES[shape]
    return [{key: p.title, value: p.text} for p in Prompt.objects.filter(user_id=user.pk)]


def import_json(*, user: AbstractBaseUser, raw: bytes) -> tuple[int, int]:
    """Add the file's prompts; returns (added, skipped as already there). All or nothing."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ActionError(
            "import_refused",
            _("The file is larger than %(count)s bytes.") % {"count": f"{MAX_IMPORT_BYTES:,}"},
        )
    try:
        items = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ActionError(
            "import_refused", _("The file is not valid JSON (it may be truncated).")
        ) from None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ActionError(
            "import_refused",
            _(
                'Expected a JSON list like [{"key": "…", "value": "…"}] '
                'or [{"act": "…", "prompt": "…"}].'
            ),
        )
    if len(items) > MAX_PROMPTS:
        raise ActionError(
            "import_refused",
            _("The file holds more than %(count)s prompts.") % {"count": f"{MAX_PROMPTS:,}"},
        )
    shape = next((s for s, (k, _) in SHAPES.items() if k in items[0]), None)
    if shape is None:
        raise ActionError(
            "import_refused", _('The entries need "key" and "value", or "act" and "prompt".')
        )
    key, value = SHAPES[shape]
    cleaned: list[tuple[str, str]] = []
    for n, item in enumerate(items, start=1):
        if key not in item or value not in item:
            raise ActionError(
                "import_refused",
                _('Entry %(n)s lacks "%(key)s" or "%(value)s".')
                % {"n": n, "key": key, "value": value},
            )
        try:
            cleaned.append(_clean(item[key], item[value]))
        except ActionError as exc:
            raise ActionError(
                "import_refused", _("Entry %(n)s: %(error)s") % {"n": n, "error": exc.message}
            ) from None
    with transaction.atomic():
        existing = Prompt.objects.filter(user_id=user.pk).values_list("title", "text")
        titles = {t for t, _ in existing}
        texts = {x for _, x in existing}
        new: list[Prompt] = []
        for title, text in cleaned:
            if title in titles or text in texts:
                continue
            titles.add(title)
            texts.add(text)
            new.append(Prompt(user_id=user.pk, title=title, text=text))
        Prompt.objects.bulk_create(new)
    return len(new), len(cleaned) - len(new)
