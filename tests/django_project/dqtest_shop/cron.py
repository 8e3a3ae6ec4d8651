"""The test app's schedule: ``record_tick`` every second, when ``DQTEST_CRON=1``.

The entry is always loaded (and shown by ``queue_configuration``); it is only scheduled when
enabled, so that runners of other tests don't write ticks.
"""

from __future__ import annotations

import os

CONFIG = [
    {
        "command": "record_tick",
        "command_args": ["cron"],
        "command_kwargs": {"suffix": "-tick"},
        "seconds": "*",
        "minutes": "*",
        "hours": "*",
        "days": "*",
        "queue": "cron",
        "sigkill_on_stop": True,
        "enabled": os.environ.get("DQTEST_CRON") == "1",
    },
]
