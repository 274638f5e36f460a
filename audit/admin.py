"""The audit log in the admin: read-only for everyone, superusers included; filtered by
action, actor, target type and a date range; exported as CSV with the same filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit import csvexport
from audit.models import AuditEvent


class DateRangeFilter(admin.ListFilter):
    """From and to dates (inclusive, in the site's time zone), as two date inputs."""

    title = _("date range")
    template = "admin/audit/date_range_filter.html"
    parameters = ("since", "until")

    def __init__(
        self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any
    ) -> None:
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, dt.date | None] = {}
        for name in self.parameters:
            raw = params.pop(name, None)
            value = raw[-1] if isinstance(raw, list) else raw
            self.values[name] = _date(value)
        self.others = [
            (key, value)
            for key, values in request.GET.lists()
            if key not in (*self.parameters, "p")
            for value in values
        ]

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.parameters)

    def choices(self, changelist: Any) -> Iterator[Any]:
        yield from ()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        since, until = self.values["since"], self.values["until"]
        zone = timezone.get_current_timezone()
        if since:
            queryset = queryset.filter(time__gte=dt.datetime.combine(since, dt.time(), zone))
        if until:
            end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone)
            queryset = queryset.filter(time__lt=end)
        return queryset


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={_shown(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"  # data, as stored (JSON), not prose
    return str(value)


class TargetTypeFilter(admin.SimpleListFilter):
    title = _("target type")
    parameter_name = "target_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = (
            AuditEvent.objects.exclude(target_type="")
            .order_by("target_type")
            .values_list("target_type", flat=True)
            .distinct()
        )
        return [(name, name) for name in types]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(target_type=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("time", "actor_username", "action", "target_shown", "address", "details_shown")
    list_filter = (
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        TargetTypeFilter,
        DateRangeFilter,
    )
    search_fields = ("actor_username", "target_label", "target_id")
    change_list_template = "admin/audit/auditevent/change_list.html"
    actions = None
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description=_("target"), ordering="target_label")
    def target_shown(self, event: AuditEvent) -> str:
        """The target's name, then its type and id in brackets."""
        where = " ".join(part for part in (event.target_type, event.target_id) if part)
        return f"{event.target_label} ({where})" if where else event.target_label

    @admin.display(description=_("details"))
    def details_shown(self, event: AuditEvent) -> str:
        """The details as short text: `changed: API key, Base URL; days: 30`."""
        return "; ".join(f"{key}: {_shown(value)}" for key, value in event.details.items())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "export_query": request.GET.urlencode()}
        return super().changelist_view(request, extra)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every entry the list's filters select (all its pages), oldest first."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        changelist = self.get_changelist_instance(request)
        events = changelist.get_queryset(request).order_by("time", "id")
        return csvexport.response(events.iterator())
