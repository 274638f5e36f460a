from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm, UsernameField


class AccountCreationForm(UserCreationForm):  # type: ignore[type-arg]
    """Sign-up and first-run setup: a username and a password twice."""

    class Meta:
        model = get_user_model()
        fields = ("username",)
        field_classes = {"username": UsernameField}


class SettingsForm(forms.Form):
    model = forms.CharField(required=False)
    context_enabled = forms.BooleanField(required=False)
    system_prompt = forms.CharField(required=False, widget=forms.Textarea)
