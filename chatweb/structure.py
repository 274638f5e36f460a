"""The project's fixed shape: its apps, middleware, templates, password rules, languages
and where its static files are. Nothing here depends on the environment; what does is
read in chatweb/settings.py, which imports these names (so they are Django's settings)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ASGI_APPLICATION",
    "AUTH_PASSWORD_VALIDATORS",
    "BASE_DIR",
    "FORMAT_MODULE_PATH",
    "INSTALLED_APPS",
    "LANGUAGES",
    "LANGUAGE_CODE",
    "LOCALE_PATHS",
    "LOGIN_REDIRECT_URL",
    "LOGIN_URL",
    "LOGOUT_REDIRECT_URL",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "STATICFILES_DIRS",
    "STATIC_URL",
    "TEMPLATES",
    "USE_I18N",
    "USE_TZ",
]

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "audit",
    "accounts",
    "conversations",
    "streaming",
    "catalog",
    "api",
    # django-ninja: its templates and static files, for the browsable docs at /api/v1/docs.
    "ninja",
]

MIDDLEWARE = [
    # Each request's id (X-Request-ID) on every log line it causes (chatweb/logs.py).
    "chatweb.logs.RequestIdMiddleware",
    # First, so that every response (static files and errors included) carries the policy.
    "chatweb.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the signed-in user's setting (accounts.language), else the language cookie
    # set by the switcher, else the browser's Accept-Language; English by default.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request's user and address, for audit entries written by signal receivers.
    "audit.context.AuditContextMiddleware",
    "accounts.language.UserLanguageMiddleware",
    # Times are shown in the signed-in user's zone (accounts.timezones), else TIME_ZONE's.
    "accounts.timezones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatweb.urls"
ASGI_APPLICATION = "chatweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chatweb.csp.context",
                "accounts.context.preferences",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# English, Simplified and Traditional Chinese (locale/zh_Hans, locale/zh_Hant; the compiled
# .mo files are committed, so running needs no GNU gettext: `make messages` refreshes them,
# docs in the Makefile). zh-hans comes before zh-hant: a bare "zh" from the browser takes
# the first "zh-" variant listed (Django's get_supported_language_variant), and zh-TW,
# zh-HK, zh-MO reach zh-hant through Django's LANG_INFO fallbacks.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("zh-hant", "繁體中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Where a language's date formats differ from Django's (chatweb/formats: Chinese month-day).
FORMAT_MODULE_PATH = ["chatweb.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
