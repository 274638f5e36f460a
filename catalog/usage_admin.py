"""Quotas and the usage ledger in the admin: the ledger's totals and its CSV export."""

from __future__ import annotations

import csv
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog.models import (
    Quota,
    UsageRecord,
)
from chatweb.csvcells import cell

DASHBOARD_TEMPLATE = "admin/catalog/usagerecord/dashboard.html"


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "applies_to", "requests_per_hour", "tokens_per_day", "tokens_per_month",
        "concurrent_answers", "storage_bytes", "budget_per_month",
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
                    "storage_bytes",
                )
            },
        ),
        (
            _("Money"),
            {
                "fields": ("budget_per_month",),
                "description": _(
                    "What each person's requests may cost in a calendar month, in the site's "
                    "currency (CURRENCY), at the models' prices. Empty: inherit; 0: no budget."
                ),
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
        "prompt_tokens", "completion_tokens", "total_tokens", "cost", "estimated",
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
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="catalog_usagerecord_dashboard",
            ),
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

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Answers, tokens and cost per day, model and user for a period (catalog.dashboard)."""
        from catalog import dashboard

        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        start, end = dashboard.default_period()
        form = dashboard.PeriodForm(request.GET or {"start": start, "end": end})
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": gettext("Usage dashboard"),
            "opts": self.model._meta,
            "form": form,
            "currency": settings.CURRENCY,
        }
        if not form.is_valid():
            return TemplateResponse(request, DASHBOARD_TEMPLATE, context, status=400)
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        view = request.GET.get("csv")
        if view in dashboard.CSV_VIEWS:
            return dashboard.csv_response(start, end, view)
        days = dashboard.by_day(start, end)
        models = dashboard.by_key(start, end, "model")
        users = dashboard.by_key(start, end, "username")
        spent = gettext("Cost (%(currency)s)") % {"currency": settings.CURRENCY}
        context.update(
            start=start,
            end=end,
            period=f"start={start.isoformat()}&end={end.isoformat()}",
            days=days,
            models=models,
            users=users,
            totals=dashboard.totals(days),
            day_charts=[
                dashboard.column_chart("day-answers", gettext("Answers per day"), days, "answers"),
                dashboard.column_chart("day-tokens", gettext("Tokens per day"), days, "tokens"),
                dashboard.column_chart("day-cost", spent, days, "spent"),
            ],
            model_charts=[
                dashboard.bar_chart("model-cost", spent, models, "model", "spent"),
                dashboard.bar_chart("model-tokens", gettext("Tokens"), models, "model", "tokens"),
            ],
            user_charts=[
                dashboard.bar_chart("user-cost", spent, users, "username", "spent"),
                dashboard.bar_chart("user-tokens", gettext("Tokens"), users, "username", "tokens"),
            ],
        )
        return TemplateResponse(request, DASHBOARD_TEMPLATE, context)

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


def usage_csv(queryset: QuerySet[UsageRecord]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="chatweb-usage.csv"'
    writer = csv.writer(response)
    columns = [
        "created_at", "username", "provider", "model", "kind", "outcome", "prompt_tokens",
        "completion_tokens", "total_tokens", "cost", "estimated", "conversation_id",
        "message_id", "api_token",
    ]  # fmt: skip
    writer.writerow(columns)
    for record in queryset.order_by("created_at", "id").iterator():
        row = [getattr(record, column) for column in columns]
        row[0] = record.created_at.isoformat()
        writer.writerow([cell(value) for value in row])
    return response
