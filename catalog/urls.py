from django.urls import path

from catalog import views

urlpatterns = [
    path("usage/", views.usage_page, name="usage"),
]
