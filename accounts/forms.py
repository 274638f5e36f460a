from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm, UsernameField
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import api_tokens, avatars, timezones
from accounts.models import INSTRUCTIONS_MAX, ApiToken, UserSettings
from catalog import config as catalog
from chatweb import visibility


class AccountCreationForm(UserCreationForm):  # type: ignore[type-arg]
    """Sign-up and first-run setup: a username and a password twice."""

    class Meta:
        model = get_user_model()
        fields = ("username",)
        field_classes = {"username": UsernameField}


class UserSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    """The settings page: everything but the password (its own form, its own check)."""

    avatar_upload = forms.FileField(
        label=_("Avatar"),
        required=False,
        help_text=_("PNG, JPEG, GIF or WebP, at most 2 MB. It is cropped to a square."),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )
    remove_avatar = forms.BooleanField(label=_("Use my initials instead"), required=False)
    default_model = forms.ChoiceField(label=_("Default model"), required=False)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        help_text=_(
            "Times are shown in it: quota resets, the conversation list's days, usage, "
            "exports. Empty: the server's (%(zone)s)."
        ),
    )

    class Meta:
        model = UserSettings
        fields = (
            "display_name",
            "theme",
            "language",
            "time_zone",
            "default_model",
            "system_prompt",
            "instructions_about",
            "instructions_style",
            "temperature",
            "top_p",
            "send_key",
        )
        labels = {
            "display_name": _("Display name"),
            "theme": _("Theme"),
            "language": _("Language"),
            "system_prompt": _("Default system prompt"),
            "instructions_about": _("What should the model know about you?"),
            "instructions_style": _("How should it answer?"),
            "temperature": _("Temperature"),
            "top_p": _("Top p"),
            "send_key": _("Send a message with"),
        }
        help_texts = {
            "display_name": _("Shown in the menu. Empty: your username."),
            "system_prompt": _(
                "New conversations start with it. It is sent after the site's prompt and "
                "your custom instructions."
            ),
            "instructions_about": _(
                "Sent with every conversation that uses custom instructions (new chats do; "
                "each chat's settings can turn them off). At most %(max)s characters."
            ),
            "instructions_style": _("At most %(max)s characters."),
            "temperature": _("0 to 2. Empty: the model server's default."),
            "top_p": _("0 to 1. Empty: the model server's default."),
        }
        widgets = {
            "theme": forms.RadioSelect,
            "send_key": forms.RadioSelect,
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
            "instructions_about": forms.Textarea(attrs={"rows": 4}),
            "instructions_style": forms.Textarea(attrs={"rows": 4}),
            "temperature": forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "2"}),
            "top_p": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
        }

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # Only the models this user may use (the catalog decides; issue 9).
        models = catalog.models_for(user)
        field = self.fields["default_model"]
        assert isinstance(field, forms.ChoiceField)
        # None saved: the site's default, which follows the admin's choice.
        site_default = catalog.default_for(user, "", choices=models)
        site_label = next((c.label for c in models if c.name == site_default), site_default)
        none_label = _("The site's default (%(model)s)") % {"model": site_label}
        field.choices = [
            ("", none_label if site_label else _("The site's default")),
            *((choice.name, choice.label) for choice in models),
        ]
        # A saved default the user may no longer use is said, not silently replaced.
        saved = self.instance.default_model if self.instance.pk else ""
        self.default_model_notice = catalog.fallback_notice(
            saved, catalog.default_for(user, saved, choices=models), models
        )
        self.avatar_bytes: bytes | None = None
        zone_field = self.fields["time_zone"]
        assert isinstance(zone_field, forms.ChoiceField)
        zone_choices: list[tuple[str, Any]] = [("", _("The server's")), *timezones.choices()]
        saved = self.instance.time_zone if self.instance else ""
        if saved and timezones.is_valid(saved) and saved not in timezones.listed():
            zone_choices.insert(1, (saved, saved))  # an alias the list leaves out, kept
        zone_field.choices = zone_choices
        zone_field.help_text = str(zone_field.help_text) % {"zone": settings.TIME_ZONE}
        for name in ("instructions_about", "instructions_style"):
            field = self.fields[name]
            field.help_text = str(field.help_text) % {"max": INSTRUCTIONS_MAX}
            # Questions: Django leaves out the colon after "?" but not after the Chinese
            # full-width question mark (the zh pages showed both marks), so no suffix.
            field.label_suffix = ""

    def clean_display_name(self) -> str:
        # Empty means the username; a name of characters that show nothing is refused.
        name = str(self.cleaned_data.get("display_name") or "")
        visibility.validate_visible(name)
        return name

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data.get("time_zone") or "")
        if name and not timezones.is_valid(name):
            raise forms.ValidationError(_("Choose a time zone from the list."))
        return name

    def clean_avatar_upload(self) -> Any:
        upload = self.cleaned_data.get("avatar_upload")
        if upload:
            self.avatar_bytes = avatars.process(upload)
        return upload

    def save(self, commit: bool = True) -> UserSettings:
        instance: UserSettings = super().save(commit=False)
        instance.user_id = self.user.pk
        if self.avatar_bytes is not None:
            instance.avatar = self.avatar_bytes
            instance.avatar_version += 1
        elif self.cleaned_data.get("remove_avatar"):
            instance.avatar = b""
            instance.avatar_version += 1
        if commit:
            instance.save()
        return instance


# The expiries offered for a new token, in days (never beyond API_TOKEN_MAX_DAYS).
TOKEN_DAYS = (7, 30, 90, 365)


def token_days() -> list[int]:
    """The expiries offered: TOKEN_DAYS up to API_TOKEN_MAX_DAYS, and that maximum itself
    when it falls between two of them (or below the shortest)."""
    longest = settings.API_TOKEN_MAX_DAYS
    days = {d for d in TOKEN_DAYS if d <= longest}
    if longest < TOKEN_DAYS[-1]:
        days.add(longest)
    return sorted(days)


class TokenForm(forms.Form):
    """A new API token, on the settings page. The form reads the fields; accounts.api_tokens
    .create() is the one that decides (its refusals are shown as the form's errors)."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What will use it, so you recognise it later: “laptop script”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiToken.Scope.choices,
        initial=[ApiToken.Scope.CHAT],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one scope.")},
    )
    days = forms.TypedChoiceField(label=_("Expires after"), coerce=int)
    models_allowed = forms.MultipleChoiceField(
        label=_("Models allowed"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: every model you may use, now and later."),
    )
    requests_per_hour = forms.IntegerField(
        label=_("Requests per hour"),
        required=False,
        min_value=1,
        help_text=_("Empty: only your account's own limits. It never raises them."),
    )

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "token")
        super().__init__(*args, **kwargs)
        days = token_days()
        field = self.fields["days"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (d, ngettext("%(days)d day", "%(days)d days", d) % {"days": d}) for d in days
        ]
        field.initial = api_tokens.DEFAULT_DAYS if api_tokens.DEFAULT_DAYS in days else days[-1]
        models = self.fields["models_allowed"]
        assert isinstance(models, forms.MultipleChoiceField)
        models.choices = [(choice.name, choice.label) for choice in catalog.models_for(user)]
