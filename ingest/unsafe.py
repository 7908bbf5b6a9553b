"""Switches that each disable one delivery guarantee.

They exist so that the fault tests can prove they would catch the failure they
guard against: tests/test_faults.py runs each fault test once more with its switch
on and expects it to fail. Never set them anywhere else.
"""

from __future__ import annotations

import os

# Answer 204 when storage failed: Pub/Sub stops redelivering and the message is lost.
ACK_ON_STORAGE_ERROR = "APOA_UNSAFE_ACK_ON_STORAGE_ERROR"
# Answer before the commit (rows buffered in memory): a crash loses what was buffered.
ACK_BEFORE_COMMIT = "APOA_UNSAFE_ACK_BEFORE_COMMIT"
# Drop journaled rows whose load into the raw tables failed, instead of keeping and retrying.
DROP_FAILED_LOAD = "APOA_UNSAFE_DROP_FAILED_LOAD"
# Delete what a push process that died left in its journal, instead of loading it.
DROP_DEAD_PUSH_SEGMENTS = "APOA_UNSAFE_DROP_DEAD_PUSH_SEGMENTS"

# A new event_id on every publish: a publisher killed before recording what it sent repeats
# the event under another id, and subscribers can no longer recognise the repeat.
EVENT_ID_PER_PUBLISH = "APOA_UNSAFE_EVENT_ID_PER_PUBLISH"


def enabled(switch: str) -> bool:
    return os.environ.get(switch) == "1"
