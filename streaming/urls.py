from django.urls import path

from streaming import diagnostics, metrics, views

urlpatterns = [
    path("c/new/", views.conversation_create, name="conversation_create"),
    path("healthz/", diagnostics.healthz, name="healthz"),
    path("admin-tools/diagnostics/", diagnostics.diagnostics, name="diagnostics"),
    path(
        "admin-tools/diagnostics/stream/",
        diagnostics.diagnostics_stream,
        name="diagnostics_stream",
    ),
    path("admin-tools/metrics/", metrics.metrics, name="metrics"),
]
