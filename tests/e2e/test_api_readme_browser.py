"""README.md's conversation API examples, as written, in real Chromium and curl against a
real daphne: the console snippet makes a token, curl streams an answer with it, and the
EventSource snippet watches an answer to its end on the page's own session."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Daphne

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    return text.split("## The conversation API", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


def after_marker(marker: str) -> str:
    return section().split(f"<!-- readme:{marker} -->\n", 1)[1].split("```", 2)[1].split("\n", 1)[1]


def test_the_readme_console_snippet_makes_a_token_curl_streams_with_it(page: Any, app: Daphne):
    make_token = blocks("js")[0]
    printed: list[str] = []
    page.on("console", lambda message: printed.append(message.text))
    page.evaluate(f"async () => {{ {make_token} }}")
    secret = next(text for text in printed if text.startswith("cwp_"))

    script = after_marker("curl")
    script = script.replace("TOKEN=cwp_...", f"TOKEN={secret}")
    script = script.replace("http://127.0.0.1:8000", app.url)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = re.findall(r"^event: (\w+)$", run.stdout, re.MULTILINE)
    assert names[0] == "message"
    assert "delta" in names
    assert names[-1] == "done"
    assert '"status":"done"' in run.stdout


def test_the_readme_eventsource_snippet_watches_an_answer_to_its_end(page: Any):
    snippet = after_marker("eventsource")
    printed: list[str] = []
    page.on("console", lambda message: printed.append(message.text))
    page.evaluate(f"async () => {{ {snippet} }}")
    for _ in range(200):
        if any(text.startswith("done ") for text in printed):
            break
        page.wait_for_timeout(100)
    [line] = [text for text in printed if text.startswith("done ")]
    assert len(line) > len("done ")  # the answer's text, whole


def test_the_browsable_docs_render_under_the_csp_and_call_the_api(page: Any):
    page.goto("/api/v1/docs")
    operation = "#operations-account-api_account_me"
    page.click(f"{operation} .opblock-summary")
    page.click(f"{operation} button.try-out__btn")
    page.click(f"{operation} button.execute")
    status = page.wait_for_selector(f"{operation} .live-responses-table tbody .response-col_status")
    assert status.inner_text().strip() == "200"
    # An unsafe method from the docs carries the session's CSRF token (ninja's interceptor):
    # the example body's model ("string") is refused as unknown, not the call as forged.
    operation = "#operations-conversations-api_conversations_create_conversation"
    page.click(f"{operation} .opblock-summary")
    page.click(f"{operation} button.try-out__btn")
    page.click(f"{operation} button.execute")
    status = page.wait_for_selector(f"{operation} .live-responses-table tbody .response-col_status")
    assert status.inner_text().strip() == "400"
    body = page.inner_text(f"{operation} .live-responses-table tbody .response-col_description")
    assert "unknown_model" in body
