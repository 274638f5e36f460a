from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog, set_language

from accounts.lock_views import sign_in_locks
from chatweb import prometheus

# Chatweb's name in the admin instead of Django's (templates/admin/base_site.html adds the mark).
admin.site.site_header = _("Chatweb administration")
admin.site.site_title = _("Chatweb admin")
admin.site.index_title = _("Today and the site's settings")

urlpatterns = [
    # A page of the admin that is not a model: the sign-in locks, and lifting them.
    path("admin/sign-in-locks/", admin.site.admin_view(sign_in_locks), name="sign_in_locks"),
    path("admin/", admin.site.urls),
    # Prometheus scrapes each instance here (off by default: docs/operations.md).
    path("metrics", prometheus.metrics, name="prometheus"),
    # The switcher on the sign-in page posts here (CSRF-protected; sets the language cookie).
    path("i18n/setlang/", set_language, name="set_language"),
    # gettext() for the JavaScript modules, in the page's language (base.html loads it).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("api.urls")),
    path("", include("streaming.urls")),
    path("", include("accounts.urls")),
    path("", include("conversations.urls")),
]
