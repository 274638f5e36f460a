"""Token counts: a real tokenizer, working with no network."""

from __future__ import annotations

import subprocess
import sys

import pytest

from catalog import tokens


def test_counts_are_o200k_token_counts():
    # Known o200k_base ids: "hello world" is two tokens; CJK is about one per character.
    assert tokens.count("hello world") == 2
    assert tokens.count("") == 0
    assert tokens.count("<|endoftext|>") > 1  # special-token lookalikes are plain text
    assert 5 <= tokens.count("上下文窗口是模型") <= 8


@pytest.mark.slow
def test_the_tokenizer_loads_without_any_network_access():
    script = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from catalog import tokens\n"
        "print(tokens.count('Self-hosted, offline, exact.'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 0


def test_a_message_costs_its_tokens_plus_the_chat_formats_overhead():
    messages = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hi"}]
    assert tokens.count_messages(messages) == 2 + 1 + 2 * tokens.MESSAGE_OVERHEAD + 3
