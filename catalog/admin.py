"""Providers, models, quotas and the usage ledger in the admin.

The API key field is write-only: the form never renders a stored key (not even masked
characters of it), list pages say only whether one is set, and nothing here logs it.
"""

from __future__ import annotations

import copy
import csv
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from catalog import config, probe, snapshot
from catalog.models import (
    ChatModel,
    Provider,
    ProxyMode,
    Quota,
    SiteSettings,
    UsageRecord,
    validate_proxy_url,
)

# Cells a spreadsheet would run as a formula start with one of these (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
                    "models": [{"id": m, "added": m in known} for m in result.model_ids],
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
        added = add_models(provider, wanted)
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


def add_models(provider: Provider, model_ids: list[str]) -> list[str]:
    """Create enabled models (open to everyone) for the ids not yet known; their names."""
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
            ChatModel.objects.create(provider=provider, model_id=model_id, name=name)
            added.append(name)
    return added


@admin.register(ChatModel)
class ChatModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name", "provider", "model_id", "context_window", "enabled", "site_default", "audience",
    )  # fmt: skip
    list_filter = ("provider", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name", "display_name", "model_id")
    list_select_related = ("provider",)
    filter_horizontal = ("groups", "users")
    fieldsets = (
        (None, {"fields": ("provider", "model_id", "name", "display_name", "enabled")}),
        (_("Limits"), {"fields": ("context_window", "max_output_tokens", "default_temperature")}),
        (_("Who may use it"), {"fields": ("groups", "users", "position")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatModel]:
        queryset: QuerySet[ChatModel] = super().get_queryset(request)
        annotated: QuerySet[ChatModel] = queryset.annotate(
            n_users=Count("users", distinct=True), n_groups=Count("groups", distinct=True)
        )
        return annotated

    @admin.display(boolean=True, description=_("site default"))
    def site_default(self, obj: ChatModel) -> bool:
        # The choice is on the site settings page (SiteSettingsAdmin), one for the site.
        return obj.name == snapshot.get().default_model

    @admin.display(description=_("who"))
    def audience(self, obj: ChatModel) -> str:
        n_users, n_groups = getattr(obj, "n_users", 0), getattr(obj, "n_groups", 0)
        if not n_users and not n_groups:
            return gettext("everyone")
        return gettext("%(groups)s, %(users)s") % {
            "groups": ngettext("%(n)s group", "%(n)s groups", n_groups) % {"n": n_groups},
            "users": ngettext("%(n)s user", "%(n)s users", n_users) % {"n": n_users},
        }


class SiteSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    """The site's default model, chosen among the enabled admin models and the `.env` ones
    (by provider). A chosen model that has since gone or been disabled is shown as chosen,
    marked, and refused when saved: the admin chooses another, or none."""

    default_model = forms.ChoiceField(label=_("Default model"), required=False)

    class Meta:
        model = SiteSettings
        fields = ("default_model",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site = config.site_default()
        field = self.fields["default_model"]
        assert isinstance(field, forms.ChoiceField)
        field.help_text = ""  # the fieldset's description says it all
        if not site.fallback:
            none_label = gettext("None chosen")
        elif site.fallback_from_env:
            none_label = gettext("None chosen: the first .env model (%(model)s)") % {
                "model": site.fallback
            }
        else:
            none_label = gettext("None chosen: the first model (%(model)s)") % {
                "model": site.fallback
            }
        groups: dict[str, list[tuple[str, str]]] = {}
        for choice in sorted(site.choices, key=lambda c: c.provider != config.ENV_PROVIDER):
            group = (
                gettext(".env (OPENAI_API_MODEL)")
                if choice.provider == config.ENV_PROVIDER
                else choice.provider
            )
            label = (
                choice.label if choice.label == choice.name else f"{choice.label} ({choice.name})"
            )
            groups.setdefault(group, []).append((choice.name, label))
        choices: list[tuple[str, Any]] = [("", none_label), *groups.items()]
        if site.chosen and not site.chosen_usable:
            stale = gettext("%(model)s (no longer available)") % {"model": site.chosen}
            choices.insert(1, (site.chosen, stale))
        field.choices = choices

    def clean_default_model(self) -> str:
        name = str(self.cleaned_data.get("default_model") or "")
        if name and name not in {choice.name for choice in self.site.choices}:
            raise forms.ValidationError(
                gettext("%(model)s is disabled or was removed: choose an enabled model, or none."),
                params={"model": name},
            )
        return name


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """One page, no list: the list's address opens it, and there is nothing to add or delete."""

    form = SiteSettingsForm
    list_display = ("default_model",)  # no list is shown (changelist_view): the field's name
    change_form_template = "admin/catalog/sitesettings/change_form.html"
    readonly_fields = ("in_use",)
    fieldsets = (
        (
            _("The site's default model"),
            {
                "fields": ("default_model", "in_use"),
                "description": _(
                    "New conversations start with this model, unless the user chose another "
                    "default that is still open to them. None chosen, or the chosen one "
                    "disabled, removed or not open to a user: the first .env model "
                    "(OPENAI_API_MODEL). Adding or removing a provider never changes it."
                ),
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> SiteSettings | None:
        return SiteSettings.load() if object_id == str(SiteSettings.ONLY) else None

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:catalog_sitesettings_change", args=[SiteSettings.ONLY])
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        site = config.site_default()
        if request.method == "GET" and site.chosen and not site.chosen_usable:
            self.message_user(request, _stale_default(site), messages.WARNING)
        extra = {
            **(extra_context or {}),
            "title": gettext("Site settings"),
            "subtitle": None,  # the page's title says it; the row has no name of its own
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra)

    def response_change(self, request: HttpRequest, obj: SiteSettings) -> HttpResponse:
        site = config.site_default()
        text = gettext("Saved. New conversations start with %(model)s.") % {"model": site.used}
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(request.path)

    @admin.display(description=_("In use now"))
    def in_use(self, obj: SiteSettings) -> str:
        site = config.site_default()
        if not site.used:
            return gettext("No model: configure OPENAI_API_MODEL or add a provider.")
        if site.chosen_usable:
            return gettext("%(model)s, as chosen.") % {"model": site.used}
        if site.chosen:
            return _stale_default(site)
        if site.fallback_from_env:
            return gettext("%(model)s, the first .env model: none is chosen.") % {
                "model": site.used
            }
        return gettext("%(model)s, the first model: none is chosen.") % {"model": site.used}


def _stale_default(site: config.SiteDefault) -> str:
    return gettext(
        "The chosen default model %(chosen)s is disabled or was removed, so new "
        "conversations start with %(used)s until you choose another."
    ) % {"chosen": site.chosen, "used": site.used or "-"}


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "applies_to", "requests_per_hour", "tokens_per_day", "tokens_per_month",
        "concurrent_answers",
    )  # fmt: skip
    list_select_related = ("user", "group")
    raw_id_fields = ("user",)
    fieldsets = (
        (
            None,
            {
                "fields": ("user", "group"),
                "description": _(
                    "Choose a user, or a group, or neither for the site default. "
                    "Empty limits inherit (user, then the user's groups, then the site default, "
                    "then MAX_REQUEST_PER_HOUR); 0 means no limit."
                ),
            },
        ),
        (
            _("Limits"),
            {
                "fields": (
                    "requests_per_hour",
                    "tokens_per_day",
                    "tokens_per_month",
                    "concurrent_answers",
                )
            },
        ),
    )

    @admin.display(description=_("applies to"))
    def applies_to(self, obj: Quota) -> str:
        if obj.user_id:
            return gettext("user %(user)s") % {"user": obj.user}
        if obj.group_id:
            return gettext("group %(group)s") % {"group": obj.group}
        return gettext("the whole site (default)")


class UsageMonthFilter(admin.SimpleListFilter):
    title = _("when")
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("today", gettext("Today")), ("month", gettext("This month"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        from catalog import usage

        if self.value() == "today":
            return queryset.filter(created_at__gte=usage.day_start())
        if self.value() == "month":
            return queryset.filter(created_at__gte=usage.month_start())
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "created_at", "username", "model", "kind", "api_token", "outcome",
        "prompt_tokens", "completion_tokens", "total_tokens", "estimated",
    )  # fmt: skip
    list_filter = (UsageMonthFilter, "kind", "outcome", "estimated", "provider", "model")
    search_fields = ("username", "model", "api_token")
    date_hierarchy = "created_at"
    change_list_template = "admin/catalog/usagerecord/change_list.html"
    actions = ["export_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name="catalog_usagerecord_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            queryset = context["cl"].queryset.order_by()
            context["totals_by_user"] = _totals(queryset, "username")
            context["totals_by_model"] = _totals(queryset, "model")
            context["totals"] = queryset.aggregate(
                requests=Count("id"), prompt=Sum("prompt_tokens"),
                completion=Sum("completion_tokens"), total=Sum("total_tokens"),
            )  # fmt: skip
            context["export_query"] = request.GET.urlencode()
        return response

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        changelist = self.get_changelist_instance(request)
        return usage_csv(changelist.get_queryset(request))

    @admin.action(description=_("Export the selected records as CSV"))
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[UsageRecord]
    ) -> HttpResponse:
        return usage_csv(queryset)


def _totals(queryset: QuerySet[UsageRecord], field: str) -> list[dict[str, Any]]:
    return list(
        queryset.values(field)
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            total=Sum("total_tokens"),
        )
        .order_by("-total", field)
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def usage_csv(queryset: QuerySet[UsageRecord]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="chatweb-usage.csv"'
    writer = csv.writer(response)
    columns = [
        "created_at", "username", "provider", "model", "kind", "outcome", "prompt_tokens",
        "completion_tokens", "total_tokens", "estimated", "conversation_id", "message_id",
        "api_token",
    ]  # fmt: skip
    writer.writerow(columns)
    for record in queryset.order_by("created_at", "id").iterator():
        row = [getattr(record, column) for column in columns]
        row[0] = record.created_at.isoformat()
        writer.writerow([_cell(value) for value in row])
    return response
