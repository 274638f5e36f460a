"""README.md's /v1 examples, as written, against a real daphne serving the README's default
model name: the shell command makes a token, curl streams a completion with it, and the
openai SDK script lists the models and streams an answer. Only the address and the token
are filled in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browsing import USERNAME
from tests.servers import ROOT, Daphne
from tests.upstream import demo_text

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
# The README's examples name OPENAI_API_MODEL's default.
APP_ENV = {"OPENAI_API_MODEL": "gpt-4o-mini"}


def blocks(language: str) -> list[str]:
    section = README.read_text().split("### The OpenAI-compatible /v1", 1)[1]
    section = section.split("\n### ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def run(script: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_v1_examples_run_as_written(app: Daphne, tmp_path: Path) -> None:
    make_token, curl = blocks("sh")
    [sdk] = blocks("python")
    env = {**app.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = make_token.replace(".venv/bin/python", sys.executable).replace(
        "'YOU'", repr(USERNAME)
    )
    secret = run(["bash", "-euo", "pipefail", "-c", command], env).strip()
    assert re.fullmatch(r"cwp_[0-9A-Za-z]{49}", secret), secret

    script = curl.replace("CHATWEB_TOKEN=cwp_...", f"CHATWEB_TOKEN={secret}")
    script = script.replace("http://127.0.0.1:8000", app.url)
    streamed = run(["bash", "-euo", "pipefail", "-c", script], env)
    chunks = re.findall(r"^data: (.*)$", streamed, re.MULTILINE)
    assert chunks[-1] == "[DONE]"
    assert '"object":"chat.completion.chunk"' in chunks[0].replace(" ", "")

    program = tmp_path / "example.py"
    program.write_text(sdk.replace("http://127.0.0.1:8000", app.url))
    printed = run([sys.executable, str(program)], {**env, "CHATWEB_TOKEN": secret})
    models, text = printed.split("\n", 1)
    assert models == "['gpt-4o-mini']"
    assert text.strip() == demo_text("Hello").strip()
