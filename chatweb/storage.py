"""Static files storage: whitenoise's hashed, compressed files, forgiving before collectstatic."""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    """Hashed names once collectstatic has run; the plain name before.

    Without this, a server started without collectstatic (daphne run by hand, the test
    suite) fails every page with a 500 for want of a hashed asset name. With it the page
    links the plain name, which whitenoise serves when WHITENOISE_USE_FINDERS is on.
    """

    manifest_strict = False

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        try:
            return str(super().hashed_name(name, content, filename))
        except ValueError:
            if content is not None:  # collectstatic itself: a real error
                raise
            return name
