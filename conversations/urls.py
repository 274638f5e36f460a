from django.urls import path

from conversations import (
    frames,
    library_views,
    prompt_views,
    transfer_views,
    usage_views,
    views,
)

urlpatterns = [
    path("usage/", usage_views.usage_page, name="usage"),
    path("", views.home, name="home"),
    path("c/delete-all/", views.conversation_delete_all, name="conversation_delete_all"),
    path("c/list/", views.conversation_list, name="conversation_list"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/thread/", views.conversation_thread, name="conversation_thread"),
    path("c/<int:pk>/rename/", views.conversation_rename, name="conversation_rename"),
    path("c/<int:pk>/delete/", views.conversation_delete, name="conversation_delete"),
    path("c/<int:pk>/settings/", views.conversation_settings, name="conversation_settings"),
    path(
        "c/<int:pk>/messages/<int:message_id>/rating/",
        views.message_rating,
        name="message_rating",
    ),
    path("search/", library_views.search, name="search"),
    path("c/<int:pk>/share/", library_views.share_create, name="share_create"),
    path("shared/", library_views.shared_links, name="shared_links"),
    path("shared/<str:token>/revoke/", library_views.share_revoke, name="share_revoke"),
    path("s/<str:token>/", library_views.shared_view, name="shared"),
    path("c/<int:pk>/export.json", transfer_views.export_one, {"fmt": "json"}, name="export_json"),
    path("c/<int:pk>/export.md", transfer_views.export_one, {"fmt": "md"}, name="export_md"),
    path("export/", transfer_views.export_all, name="export_all"),
    path("import/", transfer_views.import_page, name="import"),
    path("prompts/", prompt_views.prompt_list, name="prompts"),
    path("prompts/<int:pk>/edit/", prompt_views.prompt_edit, name="prompt_edit"),
    path("prompts/<int:pk>/delete/", prompt_views.prompt_delete, name="prompt_delete"),
    path("prompts/import/", prompt_views.prompt_import, name="prompt_import"),
    path("prompts/export.json", prompt_views.prompt_export, name="prompt_export"),
    path("prompts/picker.json", prompt_views.prompt_picker, name="prompt_picker"),
    path("render/diagram/", frames.diagram_frame, name="diagram_frame"),
]
