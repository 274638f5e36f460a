"""Strings Django's own admin shows that its zh_Hans catalogue leaves in English (Django
5.2: the app list's column headers read by screen readers, the user form's note).

Marked here with gettext_noop so `make messages` keeps them in our catalogues, which are
read before Django's (LOCALE_PATHS) and so fill the gap; nothing imports this module.
tests/test_translations.py checks that each still reads Chinese in every locale, and our
catalogue never gives one of Django's own strings another meaning.
"""

from django.utils.translation import gettext_noop

DJANGO_ADMIN_GAPS = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    # Django's msgid exactly, typographic apostrophes included.
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),  # noqa: RUF001
)
