"""An answer's text kept on disk while the database is away, so no outage loses it.

While checkpoints fail, each one appends the text sent since the last to the answer's
spill file (DATA_DIR/spill/<message id>.jsonl, one JSON object a line, fsynced): the
file holds the whole text. An answer whose end cannot be saved appends its end (the
outcome, usage and ledger rows) and keeps retrying; once the end is in the database the
file goes. A process killed meanwhile leaves the file, and start-up recovery
(recover_streams) writes what it holds: the end it recorded, or else the text as
interrupted. Appends are small and rare (one per CHECKPOINT_SECONDS per answer, only
during an outage); they run in a pool thread, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from catalog import usage as usage_ledger
from catalog.models import UsageRecord
from conversations import markdown
from conversations.models import Message, Outcome

log = logging.getLogger(__name__)

LEDGER_FIELDS = (
    "user_id", "username", "provider", "model", "kind", "outcome", "prompt_tokens",
    "completion_tokens", "total_tokens", "estimated", "conversation_id", "message_id",
)  # fmt: skip


def spill_dir() -> Path:
    return Path(settings.DATA_DIR) / "spill"


class Spill:
    """The spill file of one answer (created on its first append)."""

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.path = spill_dir() / f"{message_id}.jsonl"
        self.written = 0  # characters of the text already in the file

    @property
    def exists(self) -> bool:
        return self.written > 0 or self.path.exists()

    def append(self, text: str) -> None:
        """Append what `text` (the whole text so far) has beyond what the file holds."""
        self._write([{"text": text[self.written :]}])
        self.written = len(text)

    def end(
        self,
        text: str,
        outcome: Outcome,
        *,
        usage: dict[str, Any] | None,
        context_from_id: int | None,
        ledger: list[UsageRecord],
        reasoning: str = "",
        reasoning_seconds: float | None = None,
    ) -> None:
        """The rest of the text and how the answer ended (with its thinking, whole: it is
        small next to the answer and written once), for recovery to save."""
        rows = [
            {**{name: getattr(row, name) for name in LEDGER_FIELDS},
             "created_at": row.created_at.isoformat()}
            for row in ledger
        ]  # fmt: skip
        end = {
            "outcome": asdict(outcome),
            "usage": usage,
            "context_from_id": context_from_id,
            "ledger": rows,
            "reasoning": reasoning,
            "reasoning_seconds": reasoning_seconds,
        }
        self._write([{"text": text[self.written :]}, {"end": end}])
        self.written = len(text)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.written = 0

    def _write(self, records: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


@dataclass(frozen=True)
class Spilled:
    message_id: int
    text: str
    end: dict[str, Any] | None


def read(path: Path) -> Spilled:
    """A spill file's text and end; a torn last line (a crash mid-append) is ignored."""
    parts: list[str] = []
    end: dict[str, Any] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break
        if "text" in record:
            parts.append(record["text"])
        if "end" in record:
            end = record["end"]
    return Spilled(int(path.stem), "".join(parts), end)


def recover(spilled: Spilled) -> bool:
    """Write a spilled answer to the database: its recorded end, or else its text as
    interrupted. Never shortens a stored text; an end already saved is left alone.
    Returns True if the row was written."""
    message = Message.objects.filter(pk=spilled.message_id).first()
    if message is None:
        return False  # deleted meanwhile: nothing to keep it for
    if not message.is_live and len(message.content) >= len(spilled.text):
        return False  # its end was saved (the file outlived it by a moment)
    # Both are the start of the same text; a checkpoint after a short outage may be the
    # longer one (the file then holds only what was kept during the outage).
    text = max(spilled.text, message.content, key=len)
    # The thinking is not appended during an outage: the end has it, else a checkpoint.
    reasoning, reasoning_seconds = message.reasoning, message.reasoning_seconds
    if spilled.end is not None:
        reasoning = spilled.end.get("reasoning") or reasoning
        reasoning_seconds = spilled.end.get("reasoning_seconds", reasoning_seconds)
        outcome = Outcome(**spilled.end["outcome"])
        usage = spilled.end["usage"]
        context_from_id = spilled.end["context_from_id"]
        ledger = [
            UsageRecord(**{**row, "created_at": dt.datetime.fromisoformat(row["created_at"])})
            for row in spilled.end["ledger"]
        ]
    else:
        outcome, usage, context_from_id, ledger = Outcome.interrupted(), None, None, []
    with transaction.atomic():
        usage_ledger.record_all(ledger)
        Message.objects.finish(
            spilled.message_id, outcome, text=text, html=markdown.render(text), usage=usage,
            context_from_id=context_from_id, reasoning=reasoning,
            reasoning_seconds=reasoning_seconds,
        )  # fmt: skip
    return True


def recover_all(*, running: set[int] | frozenset[int] = frozenset()) -> int:
    """At start-up (or any time): write every spill file's answer and remove the file.
    `running`: answers this process still runs (their own generation saves them)."""
    directory = spill_dir()
    if not directory.is_dir():
        return 0
    count = 0
    for path in sorted(directory.glob("*.jsonl")):
        if not path.stem.isdigit() or int(path.stem) in running:
            continue
        try:
            if recover(read(path)):
                count += 1
            path.unlink(missing_ok=True)
        except Exception:
            log.exception("Spilled answer %s not recovered (kept for the next try)", path.stem)
    if count:
        log.warning("Wrote %d answer(s) kept on disk during a database outage.", count)
    return count
