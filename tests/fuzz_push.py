"""Coverage-guided fuzzing (atheris) of what a Pub/Sub push delivery goes through.

    .venv/bin/python tests/fuzz_push.py -runs=50000        # what make test runs
    .venv/bin/python tests/fuzz_push.py -max_total_time=600  # longer, by hand

Any bytes, as the body of a push to any topic path and as a CloudEvent's data, must end in
a 204 with exactly one row or dead letter, or (a push body that is not an envelope) a 400:
never an exception. Rows go to a list: the storage path has its own tests
(tests/test_bad_input.py). FUZZ_PLANTED_BUG=1 makes a 400 count as a failure, so that
tests/test_fuzz_push.py can show the harness reports one.
"""

from __future__ import annotations

import base64
import json
import os
import sys

import atheris

with atheris.instrument_imports():
    from ingest.envelope import decode_cloudevent
    from ingest.handler import handle_push, set_sink

TOPICS = ["github-events", "pipeline-logs", "pipeline-metrics", "x", "../etc", ""]
landed: list[int] = []


def sink(messages, dead_letters) -> None:
    landed.append(len(messages) + len(dead_letters))


def envelope(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A push envelope built from fuzzed parts, so the fuzzer reaches past the JSON parse."""
    message: dict = {}
    if fdp.ConsumeBool():
        message["messageId"] = fdp.ConsumeUnicodeNoSurrogates(8)
    if fdp.ConsumeBool():
        message["publishTime"] = fdp.ConsumeUnicodeNoSurrogates(30)
    if fdp.ConsumeBool():
        message["attributes"] = {fdp.ConsumeUnicodeNoSurrogates(8): fdp.ConsumeUnicode(16)
                                 for _ in range(fdp.ConsumeIntInRange(0, 3))}  # fmt: skip
    if fdp.ConsumeBool():
        payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
        message["data"] = base64.b64encode(payload).decode() if fdp.ConsumeBool() else (
            payload.decode("latin-1"))  # fmt: skip
    return json.dumps({"message": message, "subscription": fdp.ConsumeUnicode(20)}).encode()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    topic = TOPICS[fdp.ConsumeIntInRange(0, len(TOPICS) - 1)]
    body = envelope(fdp) if fdp.ConsumeBool() else fdp.ConsumeBytes(fdp.remaining_bytes())
    landed.clear()
    text, status = handle_push(f"/push/{topic}", body)
    allowed = (204,) if os.environ.get("FUZZ_PLANTED_BUG") else (204, 400, 404)
    if status not in allowed:
        raise AssertionError(f"push answered {status}: {text}")
    if status == 204 and landed != [1]:
        raise AssertionError(f"204 but {landed} rows landed")
    try:
        event_data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        event_data = None
    if not isinstance(event_data, dict):
        event_data = None
    decode_cloudevent(f"//pubsub.googleapis.com/projects/p/topics/{topic}", event_data, body,
                      1_000_000)  # fmt: skip


def main() -> None:
    os.environ.setdefault("APOA_LOG_LEVEL", "CRITICAL")  # a dead letter logs a warning each
    set_sink(sink)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
