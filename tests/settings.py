"""The test suite's settings (pyproject.toml: DJANGO_SETTINGS_MODULE): chatweb/settings.py,
read in an environment of the suite's own (tests/isolation.py)."""

from tests import isolation

isolation.isolate()

from chatweb.settings import *  # noqa: E402, F403
