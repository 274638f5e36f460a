"""The test suite's own server helper (tests/servers.py): a daphne that does not come up
is not left behind running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import Daphne, app_env


@pytest.mark.slow  # starts a Python process (stopped before Django is up)
def test_a_daphne_that_does_not_come_up_in_time_is_stopped_with_its_log_closed(
    tmp_path: Path,
) -> None:
    started: list[Daphne] = []

    class Impatient(Daphne):
        def _wait_ready(self, timeout: float = 60) -> None:
            started.append(self)
            super()._wait_ready(timeout=0)  # the deadline has passed at the first look

    with pytest.raises(RuntimeError, match="daphne did not start"):
        Impatient(app_env(tmp_path), tmp_path / "daphne.log")
    [server] = started
    assert server.process.poll() is not None
    assert server._log.closed
