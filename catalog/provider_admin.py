"""Providers in the admin: the form (write-only API key, proxy fields), the connection
test, and adding the models a provider lists.

The API key field is write-only: the form never renders a stored key (not even masked
characters of it), list pages say only whether one is set, and nothing here logs it.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog import config, probe
from catalog.models import (
    ChatModel,
    Provider,
    ProxyMode,
    validate_proxy_url,
)


class ProxyInput(forms.TextInput):
    """A proxy URL field that never renders credentials back (a form shown again after
    an error included): the typed URL comes back without its user:password@."""

    def format_value(self, value: Any) -> str | None:
        text = super().format_value(value)
        if not text:
            return text
        scheme, sep, rest = text.partition("://")
        authority, slash, tail = rest.partition("/")
        if "@" in authority:
            authority = authority.rsplit("@", 1)[1]
        return f"{scheme}{sep}{authority}{slash}{tail}"


class ProviderForm(forms.ModelForm):  # type: ignore[type-arg]
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Write-only: a stored key is never shown. Leave empty to keep it."),
    )
    clear_api_key = forms.BooleanField(
        label=_("Remove the stored key"), required=False, help_text=_("For servers without keys.")
    )
    # Not the model's proxy_url: what is typed here may hold credentials, which
    # Provider.set_proxy keeps encrypted apart; the field shows the URL without them.
    proxy = forms.CharField(
        label=_("Proxy URL"),
        required=False,
        strip=True,
        max_length=500,
        validators=[validate_proxy_url],
        widget=ProxyInput(
            attrs={"class": "vTextField", "autocomplete": "off", "spellcheck": "false"}
        ),
        help_text=_(
            "With “This proxy”: http://, https://, socks5:// or socks5h://host:port. "
            "Credentials may go in the URL (user:password@host:port); they are stored "
            "encrypted and never shown."
        ),
    )
    clear_proxy_credentials = forms.BooleanField(
        label=_("Remove the stored proxy credentials"), required=False
    )

    class Meta:
        model = Provider
        fields = (
            "name", "base_url", "extra_headers", "timeout_seconds", "enabled", "title_model",
            "proxy_mode",
        )  # fmt: skip
        widgets = {"proxy_mode": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["proxy_mode"].required = False
        if self.instance.pk is not None:
            self.initial.setdefault("proxy", self.instance.proxy_url)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not cleaned.get("proxy_mode") and "proxy_mode" not in self.errors:
            # A form posted without the choice (a script) keeps the provider's mode.
            cleaned["proxy_mode"] = self.instance.proxy_mode or ProxyMode.ENVIRONMENT
        wants_url = cleaned.get("proxy_mode") == ProxyMode.URL
        if wants_url and not cleaned.get("proxy") and "proxy" not in self.errors:
            self.add_error("proxy", _("Give the proxy's URL, or choose another mode."))
        return cleaned

    def save(self, commit: bool = True) -> Provider:
        provider: Provider = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            provider.set_api_key("")
        elif self.cleaned_data.get("api_key"):
            provider.set_api_key(self.cleaned_data["api_key"])
        mode = provider.proxy_mode
        if self.cleaned_data.get("proxy"):
            provider.set_proxy(self.cleaned_data["proxy"])  # validated by the field
        elif mode != ProxyMode.URL:
            provider.proxy_url, provider.proxy_auth_encrypted = "", ""
        provider.proxy_mode = mode
        if self.cleaned_data.get("clear_proxy_credentials"):
            provider.clear_proxy_credentials()
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ProviderForm
    list_display = (
        "name", "base_url", "enabled", "key_set", "proxy_shown", "model_count", "title_model",
    )  # fmt: skip
    list_filter = ("enabled",)
    search_fields = ("name", "base_url")
    actions = ["test_connection"]
    change_list_template = "admin/catalog/provider/change_list.html"
    change_form_template = "admin/catalog/provider/change_form.html"
    readonly_fields = ("last_check",)
    fieldsets = (
        (
            None,
            {"fields": ("name", "base_url", "api_key", "clear_api_key", "enabled", "last_check")},
        ),
        (
            _("Proxy"),
            {
                "fields": ("proxy_mode", "proxy", "clear_proxy_credentials"),
                "description": _(
                    "Requests to this provider (answers, titles, the connection test) go "
                    "through a proxy: the server's own setting, none, or this one."
                ),
            },
        ),
        (_("Advanced"), {"fields": ("extra_headers", "timeout_seconds", "title_model")}),
    )

    def get_form(
        self, request: HttpRequest, obj: Provider | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:  # type: ignore[type-arg]
        form: type[forms.ModelForm] = super().get_form(request, obj, change, **kwargs)  # type: ignore[type-arg]
        if obj is not None and obj.has_api_key:
            # A copy: the declared field object is shared by every form class.
            field = copy.deepcopy(form.base_fields["api_key"])
            field.help_text = _(
                "A key is stored; it is never shown. Type a new key to replace it, or leave "
                "this empty to keep it."
            )
            form.base_fields["api_key"] = field
        if obj is not None and obj.has_proxy_credentials:
            field = copy.deepcopy(form.base_fields["proxy"])
            field.help_text = _(
                "Proxy credentials are stored; they are never shown. Type the URL with new "
                "ones to replace them; without any, they are kept for this same proxy."
            )
            form.base_fields["proxy"] = field
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        queryset: QuerySet[Provider] = super().get_queryset(request)
        return queryset.annotate(n_models=Count("models"))

    @admin.display(boolean=True, description=_("API key set"))
    def key_set(self, obj: Provider) -> bool:
        return obj.has_api_key

    @admin.display(description=_("proxy"))
    def proxy_shown(self, obj: Provider) -> str:
        return obj.proxy_display

    @admin.display(description=_("models"), ordering="n_models")
    def model_count(self, obj: Provider) -> int:
        return int(getattr(obj, "n_models", 0))

    @admin.display(description=_("last connection check"))
    def last_check(self, obj: Provider) -> str:
        return probe.summary(obj)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = extra_context or {}
        extra["env_provider"] = {
            "configured": config.env_configured(),
            "base_url": settings.OPENAI_API_BASE_URL,
            "models": settings.OPENAI_API_MODELS,
            "key_set": bool(settings.OPENAI_API_KEY),
        }
        extra["site_default"] = config.site_default().used
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "add-models/",
                self.admin_site.admin_view(self.add_models_view),
                name="catalog_provider_add_models",
            ),
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="catalog_provider_test_connection",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Test connection and list the provider's models"))
    def test_connection(
        self, request: HttpRequest, queryset: QuerySet[Provider]
    ) -> TemplateResponse:
        results = []
        for provider in queryset.order_by("name"):
            result = probe.check(provider)
            known = set(provider.models.values_list("model_id", flat=True))
            results.append(
                {
                    "provider": provider,
                    "result": result,
                    "models": [
                        {"id": m, "added": m in known, "images": m in result.image_ids}
                        for m in result.model_ids
                    ],
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Test connection"),
            "opts": self.model._meta,
            "results": results,
        }
        return TemplateResponse(request, "admin/catalog/provider/test_connection.html", context)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """The provider page's "Test connection" button: probe, store, say how it went."""
        provider = get_object_or_404(Provider, pk=object_id)
        change_url = reverse("admin:catalog_provider_change", args=[provider.pk])
        if request.method != "POST" or not self.has_change_permission(request, provider):
            return HttpResponseRedirect(change_url)
        result = probe.check(provider)
        if result.ok:
            text = ngettext(
                "Connected to %(provider)s: %(count)s model listed.",
                "Connected to %(provider)s: %(count)s models listed.",
                len(result.model_ids),
            ) % {"provider": provider.name, "count": len(result.model_ids)}
            self.message_user(request, text, messages.SUCCESS)
        else:
            text = gettext("Could not connect to %(provider)s (%(code)s): %(detail)s") % {
                "provider": provider.name,
                "code": result.code,
                "detail": result.error,
            }
            self.message_user(request, text, messages.ERROR)
        return HttpResponseRedirect(change_url)

    def add_models_view(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST" or not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:catalog_provider_changelist"))
        provider = get_object_or_404(Provider, pk=request.POST.get("provider"))
        wanted = [m.strip() for m in request.POST.getlist("model_id") if m.strip()]
        # The ids the provider said read images, as the test-connection page listed them.
        images = {m.strip() for m in request.POST.getlist("image_model_id")}
        added = add_models(provider, wanted, images=images)
        text = ngettext(
            "Added %(count)s model from %(provider)s: %(names)s. Set its context window below.",
            "Added %(count)s models from %(provider)s: %(names)s. Set their context windows below.",
            len(added),
        ) % {"count": len(added), "provider": provider.name, "names": ", ".join(added)}
        if not added:
            text = gettext("No new model from %(provider)s: all were already added.") % {
                "provider": provider.name
            }
        self.message_user(request, text, messages.SUCCESS)
        url = reverse("admin:catalog_chatmodel_changelist")
        return HttpResponseRedirect(f"{url}?{urlencode({'provider__id__exact': provider.pk})}")


def add_models(
    provider: Provider, model_ids: list[str], *, images: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Create enabled models (open to everyone) for the ids not yet known, those in
    `images` marked as reading images; their names."""
    added: list[str] = []
    with transaction.atomic():
        known = set(provider.models.values_list("model_id", flat=True))
        for model_id in dict.fromkeys(model_ids):
            if model_id in known or len(model_id) > 150:
                continue
            name = model_id
            if ChatModel.objects.filter(name=name).exists():
                name = f"{provider.name}/{model_id}"[:200]
            if ChatModel.objects.filter(name=name).exists():
                continue
            ChatModel.objects.create(
                provider=provider, model_id=model_id, name=name, accepts_images=model_id in images
            )
            added.append(name)
    return added
