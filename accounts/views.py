"""Account pages: first-run setup, sign-in, sign-up, and each user's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import get_user_model, login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from accounts import api_tokens, protection
from accounts.forms import AccountCreationForm, TokenForm, UserSettingsForm
from accounts.models import ApiToken, UserSettings, settings_for
from catalog import clock


def needs_setup() -> bool:
    return not get_user_model().objects.exists()


# Any constant: the key of the PostgreSQL advisory lock that serialises first-run setup.
SETUP_LOCK = 0x63686174  # "chat"


def _lock_setup() -> None:
    """Serialise first-run setups until the transaction ends, so exactly one creates the admin.

    Under PostgreSQL's READ COMMITTED, concurrent requests all see an empty user table;
    the advisory lock makes the next one re-check after the winner committed. SQLite
    needs nothing: its transactions start IMMEDIATE (settings), which already serialises.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])


def setup(request: HttpRequest) -> HttpResponse:
    """First run: the first account created becomes the administrator."""
    if not needs_setup():
        return redirect("home")
    form = AccountCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)  # Hashes the password outside the lock.
        with transaction.atomic():
            _lock_setup()
            # Re-check under the lock: only the very first account is an admin.
            if not needs_setup():
                return redirect("login")
            user.is_staff = user.is_superuser = True
            user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/setup.html", {"form": form})


def _sso_only() -> bool:
    return settings.SSO is not None and settings.SSO.sso_only


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_SIGNUP or _sso_only():
        # The app's own page (still a 404: there is nothing to sign up at), not Django's.
        return render(request, "registration/signup_closed.html", status=404)
    if needs_setup():
        return redirect("setup")
    form = AccountCreationForm(request.POST or None)
    if request.method == "POST":
        address = protection.client_address(request)
        wait = protection.signup_wait(address)
        if wait:
            form.add_error(
                None,
                protection.wait_message(wait, _("Too many accounts created from your address.")),
            )
            return render(request, "registration/signup.html", {"form": form}, status=429)
        if form.is_valid():
            user = form.save()
            protection.signup_done(address)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


def sign_in(request: HttpRequest) -> HttpResponseBase:
    if needs_setup():
        return redirect("setup")
    context = {
        "allow_signup": settings.ALLOW_SIGNUP and not _sso_only(),
        "sso": settings.SSO,
        "sso_only": _sso_only(),
    }
    if _sso_only() and request.method == "POST":
        # Only the provider signs people in here; administrators use /admin/login/.
        return render(request, "registration/login.html", context, status=403)
    view = auth_views.LoginView.as_view(
        authentication_form=protection.ThrottledAuthenticationForm,
        redirect_authenticated_user=True,
        extra_context=context,
    )
    response = view(request)
    form = getattr(response, "context_data", {}).get("form")
    if form is not None and form.has_error(NON_FIELD_ERRORS, protection.THROTTLED):
        response.status_code = 429
    return response


# --- The settings page ---------------------------------------------------------------------


def _password_form(request: HttpRequest, data: Any = None) -> PasswordChangeForm:
    form = PasswordChangeForm(request.user, data)
    # Django autofocuses the old password; on a page that opens on the profile, the
    # focus would jump to the bottom.
    form.fields["old_password"].widget.attrs.pop("autofocus", None)
    return form


def render_settings(
    request: HttpRequest,
    *,
    form: UserSettingsForm | None = None,
    password_form: PasswordChangeForm | None = None,
    token_form: TokenForm | None = None,
    issued: api_tokens.Issued | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole settings page, with whichever of its forms was just posted (and its
    errors), and a new token's secret in the one response that made it."""
    user: Any = request.user
    if form is None:
        form = UserSettingsForm(instance=settings_for(user), user=user)
    tokens = ApiToken.objects.filter(user_id=user.pk)
    now = clock.now()
    return render(
        request,
        "accounts/settings.html",
        {
            "form": form,
            "password_form": password_form or _password_form(request),
            "token_form": token_form or TokenForm(user=user),
            "tokens": [(token, token.state(now)) for token in tokens],
            "issued": issued,
        },
        status=status,
    )


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """Display name, avatar, theme, language, chat defaults; the password and the API
    tokens have their own forms."""
    current = settings_for(request.user)
    form = UserSettingsForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        instance=current,
        user=request.user,  # type: ignore[arg-type]
    )
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, _("Your settings are saved."))
            return redirect("settings")
        return render_settings(request, form=form, status=400)
    return render_settings(request, form=form)


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("settings")
    password_form = _password_form(request, request.POST)
    if password_form.is_valid():
        user = password_form.save()
        # This session stays signed in; the others end (and their sockets close).
        update_session_auth_hash(request, user)
        flash.success(request, _("Your password is changed. Other devices are signed out."))
        return redirect("settings")
    return render_settings(request, password_form=password_form, status=400)


@require_GET
@login_required
@cache_control(private=True, max_age=31536000, immutable=True)
def avatar(request: HttpRequest, user_id: int, version: int) -> HttpResponse:
    """A user's avatar (any signed-in user may see it). The version in the URL changes
    with each new image, so the long cache never shows an old one."""
    row = UserSettings.objects.filter(user_id=user_id).only("avatar").first()
    if row is None or not row.avatar:
        raise Http404
    response = HttpResponse(bytes(row.avatar), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response
