"""The settings page's API tokens: make one (its secret shown in that one response, never
again) and revoke one. Listing them is part of the settings page (views.render_settings).

Only a signed-in session reaches these views (a token never signs a page in), so a token
cannot make tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import api_tokens
from accounts.forms import TokenForm
from accounts.models import ApiToken
from accounts.views import render_settings
from realtime.codes import ProtocolError


def _to_the_list() -> HttpResponseBase:
    return redirect(reverse("settings") + "#api-tokens")


@never_cache  # The one page that holds the secret: no cache, back button or proxy keeps it.
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = TokenForm(request.POST, user=user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            issued = api_tokens.create(
                user=user,
                name=data["name"],
                scopes=data["scopes"],
                days=data["days"],
                models_allowed=data["models_allowed"],
                requests_per_hour=data["requests_per_hour"],
            )
        except ProtocolError as error:
            form.add_error(None, error.message)
        else:
            # The list shows it; the form starts afresh for the next one.
            return render_settings(request, issued=issued, status=201)
    # The form is below the list: the browser takes the first field to correct into view.
    first = next((name for name in form.fields if name in form.errors), "name")
    form.fields[first].widget.attrs["autofocus"] = True
    return render_settings(request, token_form=form, status=400)


@login_required
@require_POST
def token_revoke(request: HttpRequest, public_id: str) -> HttpResponseBase:
    token = get_object_or_404(ApiToken, public_id=public_id, user_id=request.user.pk)
    if api_tokens.revoke(token, by=request.user):
        flash.success(
            request,
            _("The token “%(name)s” is revoked: it no longer works.") % {"name": token.name},
        )
    else:
        flash.info(request, _("The token “%(name)s” was already revoked.") % {"name": token.name})
    return _to_the_list()
