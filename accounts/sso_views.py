"""Single sign-on's pages: the start (to the provider, with state, nonce and PKCE), the
callback (the sign-in, or the login page with why not), and sign-out (the provider's too,
where it offers end-session). accounts/sso.py does the work."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from accounts import sso
from chatweb.sso import SSOConfig

log = logging.getLogger(__name__)


def refusal_message(code: str, *, provider: str, email: str = "") -> str:
    """A refusal's sentence, in the reader's language."""
    sentences = {
        sso.PROVIDER: _(
            "%(provider)s did not complete the sign-in. Try again, or ask an administrator "
            "if it keeps failing."
        ),
        sso.INVALID: _("The sign-in could not be verified. Please try again."),
        sso.NO_EMAIL: _(
            "%(provider)s did not share your email address, which is needed to sign in here."
        ),
        sso.UNVERIFIED: _(
            "Your email address at %(provider)s is not verified. Verify it there, then try again."
        ),
        sso.UNKNOWN: _("There is no account here for %(email)s. Ask an administrator for one."),
        sso.AMBIGUOUS: _(
            "Several accounts here use %(email)s. Ask an administrator to sort it out."
        ),
        sso.DISABLED: _("This account is disabled."),
    }
    return sentences.get(code, sentences[sso.INVALID]) % {"provider": provider, "email": email}


class _Start(OIDCAuthenticationRequestView):  # type: ignore[misc]
    get_settings = staticmethod(sso.library_setting)


def _refused(request: HttpRequest, refusal: sso.Refused) -> HttpResponse:
    config = sso.config()
    label = config.button_label if config else ""
    # The audit log (and anyone else) hears of it as of a failed password sign-in.
    user_login_failed.send(
        sender=__name__,
        credentials={"username": refusal.email, "method": "sso"},
        request=request,
    )
    log.warning("Single sign-on refused: %s", refusal)
    flash.error(request, refusal_message(refusal.code, provider=label, email=refusal.email))
    return redirect("login")


def _configured() -> SSOConfig:
    config = sso.config()
    if config is None:
        raise Http404
    return config


@require_GET
@never_cache
def start(request: HttpRequest) -> HttpResponseBase:
    """To the provider's sign-in page (state, nonce and PKCE's verifier kept in the
    session for the callback)."""
    _configured()
    try:
        return _Start.as_view()(request)  # type: ignore[no-any-return]
    except sso.Refused as refusal:
        return _refused(request, refusal)


@require_GET
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here with a code (or an error)."""
    _configured()
    states: dict[str, Any] = request.session.get("oidc_states") or {}
    state = request.GET.get("state", "")
    entry = states.pop(state, None) if state else None
    # Each state is used once, whatever happens next (a replayed callback is refused).
    request.session["oidc_states"] = states
    if request.GET.get("error"):
        return _refused(request, sso.Refused(sso.PROVIDER, f"error={request.GET['error'][:60]}"))
    if entry is None or not request.GET.get("code"):
        return _refused(request, sso.Refused(sso.INVALID, "unknown or used state"))
    backend = sso.SSOBackend()
    flow = sso.Flow(nonce=entry.get("nonce") or "", code_verifier=entry.get("code_verifier"))
    try:
        user = backend.authenticate(request, flow=flow)
    except sso.Refused as refusal:
        return _refused(request, refusal)
    if user is None:
        return _refused(request, sso.Refused(sso.INVALID, "claims"))
    next_url = request.session.get("oidc_login_next")
    id_token = request.session.get("oidc_id_token")
    login(request, user, backend=sso.BACKEND)
    # Signing in as someone else flushes the session: what the sign-out needs is kept.
    request.session["oidc_id_token"] = id_token
    return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


class SignOut(auth_views.LogoutView):
    """Django's sign-out; for a session signed in through the provider, then to the
    provider's end-session endpoint (it sends the browser back to the sign-in page)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        back = request.build_absolute_uri(reverse("login"))
        provider = sso.end_session_url(request, back) if request.user.is_authenticated else None
        response: HttpResponse = super().post(request, *args, **kwargs)
        return redirect(provider) if provider else response
