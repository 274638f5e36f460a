"""Models and the site settings in the admin; providers (catalog/provider_admin.py) and
quotas and the usage ledger (catalog/usage_admin.py) register from their own modules.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

# Providers, quotas and the ledger register their ModelAdmins on import.
import catalog.provider_admin
import catalog.usage_admin  # noqa: F401
from catalog import config, snapshot
from catalog.models import ChatModel, SiteSettings


@admin.register(ChatModel)
class ChatModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name", "provider", "model_id", "context_window", "prices", "enabled", "accepts_images",
        "site_default", "audience",
    )  # fmt: skip
    list_filter = ("provider", "enabled", "accepts_images")
    list_editable = ("enabled",)
    search_fields = ("name", "display_name", "model_id")
    list_select_related = ("provider",)
    filter_horizontal = ("groups", "users")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "provider",
                    "model_id",
                    "name",
                    "display_name",
                    "enabled",
                    "accepts_images",
                )
            },
        ),
        (_("Limits"), {"fields": ("context_window", "max_output_tokens", "default_temperature")}),
        (
            _("Prices"),
            {
                "fields": ("input_price", "output_price"),
                "description": _(
                    "Per million tokens, in %(currency)s (the CURRENCY setting). Each usage "
                    "record keeps its cost at the prices when it was recorded: a change applies "
                    "from now on. Empty: unpriced (no cost, nothing counted against budgets)."
                ),
            },
        ),
        (_("Who may use it"), {"fields": ("groups", "users", "position")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatModel]:
        queryset: QuerySet[ChatModel] = super().get_queryset(request)
        annotated: QuerySet[ChatModel] = queryset.annotate(
            n_users=Count("users", distinct=True), n_groups=Count("groups", distinct=True)
        )
        return annotated

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        # The currency is a setting: filled into the prices' description when shown.
        return [
            (
                name,
                {
                    **options,
                    "description": options["description"] % {"currency": settings.CURRENCY},
                },
            )
            if "description" in options
            else (name, options)
            for name, options in fieldsets
        ]

    @admin.display(description=_("prices (in / out)"))
    def prices(self, obj: ChatModel) -> str:
        if obj.input_price is None or obj.output_price is None:
            return "-"
        return f"{obj.input_price.normalize():f} / {obj.output_price.normalize():f}"

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
