"""An instance killed mid-answer (kill -9): the others notice by its lapsed heartbeat and
end its answer as interrupted, with its last checkpoint's text, within seconds, not
after STREAM_STALE_SECONDS (60 s here)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from tests.deploy.conftest import Stack
from tests.deploy.test_scale_out import first_frame_of_type, next_frame, open_socket
from tests.servers import Daphne
from tests.upstream import expected_text

pytestmark = [pytest.mark.deploy, pytest.mark.asyncio]


async def test_an_instance_killed_mid_answer_is_noticed_within_seconds(stack: Stack) -> None:
    b = stack.instances[1]
    env = {**stack.env, "INSTANCE_ID": "deploy-doomed", "INSTANCE_HEARTBEAT_SECONDS": "1"}
    doomed = await asyncio.to_thread(Daphne, env, stack.directory / "daphne-doomed.log", "doomed")
    conversation = stack.take_conversation()
    on_doomed = await open_socket(stack, doomed.ws_url, conversation)
    on_b = await open_socket(stack, b.ws_url, conversation)
    try:
        await on_doomed.send(
            json.dumps({"type": "send", "text": "[[fake tokens=2000 delay=0.02]]"})
        )
        await first_frame_of_type(on_b, "delta")
        await asyncio.sleep(3)  # a checkpoint or two (CHECKPOINT_SECONDS = 2)
        await asyncio.to_thread(doomed.kill)
        killed_at = time.monotonic()
        async with asyncio.timeout(45):
            while (frame := await next_frame(on_b))["type"] != "done":
                pass
        noticed_after = time.monotonic() - killed_at
    finally:
        await on_b.close()
        # Its server is gone: the close cannot be answered, but the socket is released.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(on_doomed.close(), 5)
        on_doomed.transport.abort()
        doomed.stop()

    message = frame["message"]
    assert (message["status"], message["error_code"]) == ("interrupted", "interrupted")
    assert message["content"]  # the last checkpoint's text
    assert expected_text(2000).startswith(message["content"])
    # STREAM_STALE_SECONDS is 60 here: only the lapsed heartbeat ends it this soon. The
    # bound is generous (the heartbeat lapses after 3 s, B sweeps every 2 s).
    assert noticed_after < 30, noticed_after
    print(f"\ndeploy: a killed instance's answer was ended {noticed_after:.1f} s after the kill")
