"""The admin's "Sign-in locks" page: the sign-in locks and slowdowns in force (they live in
the cache, shared by every instance when it is Redis), each with a button that lifts it.

Not a model: a page of the admin site (admin.site.admin_view: staff only, the admin's
sign-in otherwise), for those who may change users.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import protection


def _may_lift(request: HttpRequest) -> bool:
    meta = get_user_model()._meta
    return request.user.has_perm(f"{meta.app_label}.change_{meta.model_name}")


def _kind_label(kind: str) -> str:
    return {
        protection.PAIR: _("This account from this address"),
        protection.ADDRESS: _("Every account from this address"),
        protection.ACCOUNT: _("This account from new addresses (slowed down)"),
    }[kind]


@require_http_methods(["GET", "POST"])
def sign_in_locks(request: HttpRequest) -> HttpResponse:
    if not _may_lift(request):
        raise PermissionDenied
    if request.method == "POST":
        lifted = protection.lift(str(request.POST.get("lock", "")))
        if lifted is None:
            messages.info(request, _("That lock had already ended."))
        else:
            messages.success(request, _("The lock is lifted: sign-in works again."))
        return redirect("sign_in_locks")
    rows = [
        {
            "lock": lock,
            "kind": _kind_label(lock.kind),
            "until": dt.datetime.fromtimestamp(lock.until, tz=dt.UTC),
        }
        for lock in protection.locks()
    ]
    context = {
        **admin.site.each_context(request),
        "title": _("Sign-in locks"),
        "rows": rows,
        "now": timezone.now(),
    }
    return render(request, "admin/sign_in_locks.html", context)
