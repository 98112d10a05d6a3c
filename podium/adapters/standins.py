"""Start the npm stand-ins (Azurite, the Cosmos DB emulator) as child processes on loopback.

Used by the root ``tests/conftest.py`` fixtures and by ``bench/stores.py``. Each server listens
on port 0 (the OS picks a free port, so concurrent test runs never collide) and the real port is
read from the server's own output. Processes are stopped by PID, never by name.

The Cosmos emulator (``@vercel/cosmosdb-server``) is started from Node with keep-alive (the CLI
closes every connection, ~20x slower) and with one gap patched in memory at start: reading a
missing document answers 500 (a TypeError in ``read-document.js``) instead of 404. The adapter
keeps real Cosmos semantics (point reads, 1 RU) and the stand-in is made to behave like Cosmos;
nothing under ``node_modules`` is edited.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"

COSMOS_EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
# Well-known Azurite development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_COSMOS_JS = r"""
const rd = require("@vercel/cosmosdb-server/lib/handler/read-document");
const original = rd.default;
rd.default = (account, req, res, params) => {
  try { return original(account, req, res, params); }
  catch (err) {
    if (!(err instanceof TypeError)) throw err;
    res.statusCode = 404;
    return { code: "NotFound", message: "Entity with the specified id does not exist." };
  }
};
const server = require("@vercel/cosmosdb-server").createHttpsServer({ keepAlive: true });
server.listen(0, "127.0.0.1", () => console.log("PODIUM_READY " + server.address().port));
"""


class StandInError(RuntimeError):
    """A stand-in could not start (missing node_modules, timeout, crash)."""


@dataclass
class StandIn:
    """A running stand-in process: its PID, ports and log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    def stop(self) -> None:
        """Terminate the process group we started (by PID), then kill if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.log_path.unlink(missing_ok=True)


@dataclass
class CosmosEmulator(StandIn):
    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.ports['https']}"

    key: str = COSMOS_EMULATOR_KEY


@dataclass
class Azurite(StandIn):
    @property
    def connection_string(self) -> str:
        host = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={host}:{self.ports['blob']}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint={host}:{self.ports['queue']}/{AZURITE_ACCOUNT};"
            f"TableEndpoint={host}:{self.ports['table']}/{AZURITE_ACCOUNT};"
        )


def missing_reason(package: str) -> str | None:
    """Why a stand-in cannot start here, or None when it can."""
    if not (NODE_MODULES / package).is_dir():
        return f"{NODE_MODULES / package} is missing: run `npm ci` (scripts/test does)"
    if not any((Path(p) / "node").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        return "node is not on PATH"
    return None


def _spawn(argv: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
    fd, name = tempfile.mkstemp(prefix="podium-standin-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return proc, Path(name)


def _wait_for(proc: subprocess.Popen[bytes], log: Path, pattern: re.Pattern[str], count: int,
              timeout: float) -> list[re.Match[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matches = list(pattern.finditer(log.read_text(errors="replace")))
        if len(matches) >= count:
            return matches
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    output = log.read_text(errors="replace")[-2000:]
    StandIn(proc, log).stop()
    raise StandInError(f"stand-in did not become ready in {timeout}s; output:\n{output}")


def start_cosmos_emulator(timeout: float = 30.0) -> CosmosEmulator:
    reason = missing_reason("@vercel/cosmosdb-server")
    if reason:
        raise StandInError(reason)
    proc, log = _spawn(["node", "-e", _COSMOS_JS])
    (match,) = _wait_for(proc, log, re.compile(r"PODIUM_READY (\d+)"), 1, timeout)
    return CosmosEmulator(proc, log, {"https": int(match.group(1))})


def start_azurite(timeout: float = 30.0) -> Azurite:
    reason = missing_reason("azurite")
    if reason:
        raise StandInError(reason)
    argv = [
        str(NODE_MODULES / ".bin" / "azurite"), "--inMemoryPersistence", "--silent",
        "--skipApiVersionCheck", "--disableTelemetry", "--loose",
        "--blobHost", "127.0.0.1", "--blobPort", "0",
        "--queueHost", "127.0.0.1", "--queuePort", "0",
        "--tableHost", "127.0.0.1", "--tablePort", "0",
    ]
    proc, log = _spawn(argv)
    pattern = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at "
                         r"http://127\.0\.0\.1:(\d+)")
    matches = _wait_for(proc, log, pattern, 3, timeout)
    return Azurite(proc, log, {m.group(1).lower(): int(m.group(2)) for m in matches})
