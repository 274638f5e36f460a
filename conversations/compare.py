"""Comparing models: the same question answered again by another model, shown beside the
first answer until the user chooses one (issue 22, item 5).

A comparison is an ordinary branch: the new answer is a sibling of the compared one (as a
regenerate with a model override makes), and becomes the active path's last answer;
`Conversation.compare_with` names the sibling shown beside it while the comparison is
open (Conversation.active_thread() gives the path's last answer its `compared` side).
Choosing a side is a switch (actions.switch_branch), which closes it, as does any
other change of the path.

Unlike every other action that starts an answer, a comparison may start while the answer
it is compared with is still being written: the two then stream at once (each counts
towards the user's concurrent-answers quota, checked here for the second one).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from catalog import config as catalog
from conversations.actions import (
    ActionError,
    _branch_changed,
    _check_answer_allowed,
    _message_in,
    _new_answer,
)
from conversations.models import Conversation, Message


def compare_answer(*, conversation: Conversation, message_id: object, model: object) -> Message:
    """A new answer by `model` to the question `message_id` (an answer) answers, beside it.

    Refused (nothing written): a message that is not an answer to a question, a model the
    user may not use (one must be named), an answer being written elsewhere in the
    conversation (`busy`: only the compared answer may still stream), or a quota.
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        target = _message_in(locked, message_id)
        question = target.parent
        if (
            target.role != Message.Role.ASSISTANT
            or question is None
            or question.role != Message.Role.USER
        ):
            raise ActionError("not_comparable", _("Only an answer can be compared."))
        live = list(locked.messages.filter(role=Message.Role.ASSISTANT, status__in=Message.LIVE))
        if any(m.pk != target.pk for m in live):
            raise ActionError("busy", _("Wait for the current answer to finish, or stop it."))
        try:  # a model must be named, one this user may use
            chosen = catalog.check_allowed(locked.user, model)
        except catalog.ModelUnavailable as exc:
            raise ActionError(exc.code, exc.message) from exc
        budget = _check_answer_allowed(locked)  # the compared answer counts if it streams
        # The answer's own model; the conversation's stays the one the user picked.
        answer = _new_answer(locked, question, chosen, budget)
        locked.compare_with_id = target.pk
        locked.save(update_fields=["compare_with"])
        _branch_changed(locked)
        return answer
