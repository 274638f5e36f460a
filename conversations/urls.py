from django.urls import path

from conversations import frames, views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_create, name="conversation_create"),
    path("c/delete-all/", views.conversation_delete_all, name="conversation_delete_all"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/thread/", views.conversation_thread, name="conversation_thread"),
    path("c/<int:pk>/rename/", views.conversation_rename, name="conversation_rename"),
    path("c/<int:pk>/delete/", views.conversation_delete, name="conversation_delete"),
    path("c/<int:pk>/settings/", views.conversation_settings, name="conversation_settings"),
    path("render/diagram/", frames.diagram_frame, name="diagram_frame"),
]
