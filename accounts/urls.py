from django.urls import path

from accounts import sso_views, timezones, token_views, views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("accounts/login/", views.sign_in, name="login"),
    path("accounts/logout/", sso_views.SignOut.as_view(), name="logout"),
    path("accounts/sso/start/", sso_views.start, name="sso_start"),
    path("accounts/sso/callback/", sso_views.callback, name="sso_callback"),
    path("accounts/signup/", views.signup, name="signup"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/time-zone/", timezones.report, name="time_zone_report"),
    path("settings/password/", views.password_change, name="password_change"),
    path("settings/tokens/", token_views.token_create, name="token_create"),
    path(
        "settings/tokens/<str:public_id>/revoke/",
        token_views.token_revoke,
        name="token_revoke",
    ),
    path("accounts/avatar/<int:user_id>/<int:version>.png", views.avatar, name="avatar"),
]
