from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm, UsernameField
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _

from accounts import avatars
from accounts.models import UserSettings
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

    class Meta:
        model = UserSettings
        fields = (
            "display_name",
            "theme",
            "language",
            "default_model",
            "system_prompt",
            "temperature",
            "top_p",
            "send_key",
        )
        labels = {
            "display_name": _("Display name"),
            "theme": _("Theme"),
            "language": _("Language"),
            "system_prompt": _("Default system prompt"),
            "temperature": _("Temperature"),
            "top_p": _("Top p"),
            "send_key": _("Send a message with"),
        }
        help_texts = {
            "display_name": _("Shown in the menu. Empty: your username."),
            "system_prompt": _("New conversations start with it. Empty: the server's default."),
            "temperature": _("0 to 2. Empty: the model server's default."),
            "top_p": _("0 to 1. Empty: the model server's default."),
        }
        widgets = {
            "theme": forms.RadioSelect,
            "send_key": forms.RadioSelect,
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
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
        field.choices = [
            ("", _("The first available model")),
            *((choice.name, choice.label) for choice in models),
        ]
        self.avatar_bytes: bytes | None = None

    def clean_display_name(self) -> str:
        # Empty means the username; a name of characters that show nothing is refused.
        name = str(self.cleaned_data.get("display_name") or "")
        visibility.validate_visible(name)
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
