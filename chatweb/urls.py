from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("streaming.urls")),
    path("", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("conversations.urls")),
]
