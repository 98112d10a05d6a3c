"""The broker is durable: a process killed with SIGKILL loses no acknowledged message, and a
message locked by the killed process is delivered again once its lock expires."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from podium.localhost.broker import Broker

REPO = Path(__file__).resolve().parents[3]

CHILD = r"""
import sys
from datetime import timedelta
from podium.localhost.broker import Broker, QueueSpec, Topology
b = Broker(sys.argv[1])
b.apply_topology(Topology(queues=(QueueSpec("q", lock_duration=timedelta(seconds=1)),)))
b.send("q", "locked-then-killed", message_id="held")
[held] = b.receive("q")
print("locked", held.message_id, flush=True)
i = 0
while True:
    b.send("q", f"m{i}", message_id=f"m{i}")
    print("sent", i, flush=True)
    i += 1
"""


def test_sigkill_loses_no_acknowledged_message(tmp_path: Path) -> None:
    db = tmp_path / "sb.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    acked = -1
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["locked", "held"]
    while acked < 300:
        line = proc.stdout.readline()
        assert line, "child died"
        acked = int(line.split()[1])
    proc.kill()  # SIGKILL, mid-send loop
    proc.wait(timeout=10)

    broker = Broker(db)
    ids = {m.message_id for m in broker.peek("q", 100_000)}
    assert {f"m{i}" for i in range(acked + 1)} <= ids
    time.sleep(1.1)  # the dead receiver's lock expires
    received = {m.message_id: m for m in broker.receive("q", 100_000)}
    assert received["held"].delivery_count == 2
    broker.close()
