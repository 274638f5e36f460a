from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.protection import ThrottledAdminAuthenticationForm
from conversations.models import Attachment, Conversation, Message, Project, Prompt, SharedLink

# The admin's login is throttled like the app's (docs/security.md).
admin.site.login_form = ThrottledAdminAuthenticationForm


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Message
    fk_name = "conversation"
    extra = 0
    fields = ("role", "status", "short_content", "model", "total_tokens", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    @admin.display(description=_("content"))
    def short_content(self, obj: Message) -> str:
        return obj.content[:120]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "title", "user", "project", "model", "context_enabled", "pinned", "archived",
        "updated_at", "expires_at",
    )  # fmt: skip
    list_filter = (
        "model",
        ("project", admin.EmptyFieldListFilter),
        "context_enabled",
        "pinned",
        "archived",
        "updated_at",
        ("expires_at", admin.EmptyFieldListFilter),
    )
    readonly_fields = ("expires_at",)
    search_fields = ("title", "user__username", "messages__content")
    list_select_related = ("user", "project")
    raw_id_fields = ("user", "current_leaf", "project")
    date_hierarchy = "updated_at"
    inlines = [MessageInline]

    def get_search_results(self, request, queryset, search_term):  # type: ignore[no-untyped-def]
        queryset, _may_duplicate = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "default_model", "conversation_count", "created_at")
    search_fields = ("name", "user__username", "instructions")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"

    def get_queryset(self, request: Any) -> QuerySet[Project]:
        rows: QuerySet[Project] = super().get_queryset(request)
        return rows.annotate(conversation_count=Count("conversations"))

    @admin.display(description=_("conversations"), ordering="conversation_count")
    def conversation_count(self, obj: Any) -> int:
        return int(obj.conversation_count)


class RatedFilter(admin.SimpleListFilter):
    """Answers by their owner's thumbs: up, down, any rating, or not rated."""

    title = _("rating")
    parameter_name = "rated"

    def lookups(self, request: object, model_admin: object) -> list[tuple[str, Any]]:
        return [
            ("down", _("Rated down")),
            ("up", _("Rated up")),
            ("any", _("Rated")),
            ("none", _("Not rated")),
        ]

    def queryset(self, request: object, queryset: QuerySet[Message]) -> QuerySet[Message]:
        value = self.value()
        if value in Message.Rating.values:
            return queryset.filter(rating=value)
        if value == "any":
            return queryset.exclude(rating="")
        if value == "none":
            return queryset.filter(role=Message.Role.ASSISTANT, rating="")
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Messages; to find bad answers, filter by rating (and model, and when rated)."""

    list_display = (
        "id", "conversation", "role", "status", "model", "rating",
        "prompt_tokens", "completion_tokens", "total_tokens", "created_at",
    )  # fmt: skip
    list_filter = (RatedFilter, "role", "status", "model", "rated_at", "created_at", "error_code")
    search_fields = ("content", "conversation__title", "conversation__user__username")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "parent")
    readonly_fields = (
        "html", "worker", "created_at", "updated_at", "finished_at", "rating", "rated_at",
    )  # fmt: skip


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Publishing a prompt to every user is an administrator's call: tick "published"."""

    list_display = ("title", "user", "is_public", "updated_at")
    list_editable = ("is_public",)
    list_filter = ("is_public",)
    search_fields = ("title", "text", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(SharedLink)
class SharedLinkAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Shared links, to see what is public and revoke one (delete it)."""

    list_display = ("title", "conversation", "created_at")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    readonly_fields = ("token", "message_ids", "created_at")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Uploaded files, to see who stores what (read-only: a file changes with its message).

    Deleting one here deletes its stored bytes too (conversations/attachment_models.py),
    and leaves its message without it."""

    list_display = ("name", "user", "kind", "size", "message", "created_at")
    list_filter = ("kind", ("message", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "user__username")
    list_select_related = ("user", "message")
    date_hierarchy = "created_at"
    readonly_fields = (
        "user", "message", "kind", "name", "content_type", "size", "file", "thumbnail",
        "width", "height", "pages", "text_tokens", "sha256", "position", "created_at",
    )  # fmt: skip
    exclude = ("text",)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
