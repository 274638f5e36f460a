"""API tokens in the admin: list, filter and revoke. Tokens are made by their owners on
the settings page (the secret is shown only to them, once), so the admin cannot add or
edit one; a revoked token keeps its row, for audit."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import api_tokens
from accounts.models import ApiToken
from catalog import clock


class TokenStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("Active")), ("expired", _("Expired")), ("revoked", _("Revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = clock.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name",
        "user",
        "prefix",
        "public_id",
        "scope_list",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    )
    list_filter = (TokenStateFilter, "created_at", "user")
    search_fields = ("name", "prefix", "public_id", "user__username")
    list_select_related = ("user",)
    actions = ["revoke"]
    readonly_fields = (
        "user",
        "name",
        "public_id",
        "prefix",
        "scopes",
        "models_allowed",
        "requests_per_hour",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_by",
    )
    exclude = ("key_hash",)

    @admin.display(description=_("scopes"))
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # Viewing only; revoking is the action below.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        # Revoking is the one change there is: it needs the change permission.
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(api_tokens.revoke(token, by=request.user) for token in queryset)
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", revoked)
            % {"count": revoked},
            messages.SUCCESS,
        )
