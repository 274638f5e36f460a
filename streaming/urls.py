from django.urls import path

from streaming import diagnostics

urlpatterns = [
    path("healthz/", diagnostics.healthz, name="healthz"),
    path("admin-tools/diagnostics/", diagnostics.diagnostics, name="diagnostics"),
    path(
        "admin-tools/diagnostics/stream/",
        diagnostics.diagnostics_stream,
        name="diagnostics_stream",
    ),
]
