"""The podium CLI against a real `python -m podium host` process: commands and exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.cli import EXIT_FAILURE, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from tests.localhost.host.conftest import BASIC_APP

REPO = Path(__file__).resolve().parents[3]
SERVED: dict[str, Path] = {}  # the data directory of the module's host process


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """A host process on a random loopback port; yields its base URL."""
    data = tmp_path_factory.mktemp("cli-host")
    SERVED["data"] = data
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "podium",
            "host",
            "--port",
            "0",
            "--app-dir",
            str(BASIC_APP),
            "--data-dir",
            str(data),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=str(data),
    )
    banner: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        m = re.match(r"Durable HTTP API: (http://127\.0\.0\.1:\d+)/", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("host did not start:\n" + "".join(banner))
    text = "".join(banner)
    assert "item: [GET] " + url + "/api/items/{id:int}" in text  # URLs of HTTP functions
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def run(url: str, *args: str, capsys) -> tuple[int, str, str]:
    code = main([args[0], "--url", url, "--app-dir", str(BASIC_APP), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def _wait(url: str, instance_id: str, capsys, want: str = "Completed") -> dict:
    for _ in range(200):
        code, out, _ = run(url, "status", instance_id, capsys=capsys)
        if code == EXIT_OK and json.loads(out)["runtimeStatus"] == want:
            return json.loads(out)
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never reached {want}")


def test_start_status_instances_purge(served: str, capsys) -> None:
    code, out, _ = run(served, "start", "greet", "--input", '["cli"]', "--id", "c1", capsys=capsys)
    assert (code, out.strip()) == (EXIT_OK, "c1")
    assert _wait(served, "c1", capsys)["output"] == ["hello cli"]
    code, out, _ = run(served, "instances", "--status", "Completed", capsys=capsys)
    assert code == EXIT_OK and "c1\tCompleted\tgreet" in out
    code, out, _ = run(served, "purge", "c1", capsys=capsys)
    assert (code, out.strip()) == (EXIT_OK, "1")
    code, _, err = run(served, "status", "c1", capsys=capsys)
    assert code == EXIT_USAGE and err.startswith("podium: ") and err.count("\n") == 1


def test_raise_and_terminate(served: str, capsys) -> None:
    assert run(served, "start", "approval", "--id", "r1", capsys=capsys)[0] == EXIT_OK
    _wait(served, "r1", capsys, "Running")
    assert run(served, "raise", "r1", "approve", '{"by": "cli"}', capsys=capsys)[0] == EXIT_OK
    assert _wait(served, "r1", capsys)["output"] == {"approved": {"by": "cli"}}
    # terminating a completed instance is refused by the host (410): a runtime failure
    code, _, err = run(served, "terminate", "r1", capsys=capsys)
    assert code == EXIT_FAILURE and "410" in err
    assert run(served, "start", "approval", "--id", "r2", capsys=capsys)[0] == EXIT_OK
    _wait(served, "r2", capsys, "Running")
    assert run(served, "terminate", "r2", "--reason", "done", capsys=capsys)[0] == EXIT_OK
    _wait(served, "r2", capsys, "Terminated")
    code, out, _ = run(served, "purge", "--status", "Terminated", capsys=capsys)
    assert (code, out.strip()) == (EXIT_OK, "1")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("start", "no-such-orchestrator"), "no-such-orchestrator"),
        (("start", "greet", "--input", "{nope"), "not valid JSON"),
        (("raise", "x", "ev", "[1,"), "not valid JSON"),
        (("status", "missing-id"), "missing-id"),
    ],
)
def test_bad_input_exits_2_with_one_line(served: str, capsys, args, needle) -> None:
    code, _, err = run(served, *args, capsys=capsys)
    assert code == EXIT_USAGE
    assert needle in err and err.startswith("podium: ") and err.count("\n") == 1


def test_wrong_key_exits_2(served: str, capsys) -> None:
    code = main(["status", "x", "--url", served, "--key", "wrong"])
    assert code == EXIT_USAGE and "401" in capsys.readouterr().err


def test_unreachable_host_exits_3(capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    code = main(["instances", "--url", f"http://127.0.0.1:{port}", "--key", "k"])
    assert code == EXIT_UNREACHABLE and "cannot reach" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        main(["instances", "--status", "Sleeping"])
    assert exc.value.code == EXIT_USAGE


def test_host_with_a_bad_app_dir_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["host", "--app-dir", str(tmp_path), "--port", "0"])
    assert code == EXIT_USAGE and "function_app.py" in capsys.readouterr().err


def test_host_on_a_taken_port_exits_1(tmp_path: Path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["host", "--app-dir", str(BASIC_APP), "--port", str(port),
                     "--data-dir", str(tmp_path)])
    assert code == EXIT_FAILURE and "could not serve" in capsys.readouterr().err


def test_host_with_a_bad_schedule_exits_2_naming_the_function(tmp_path: Path, capsys) -> None:
    code = main(["host", "--app-dir", str(BASIC_APP.parent / "badcron"), "--port", "0",
                 "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "five_fields" in err and "6 fields" in err


def test_send_reaches_the_running_host_and_poison_shows_in_deadletters(served: str,
                                                                        capsys) -> None:
    where = ["--app-dir", str(BASIC_APP), "--data-dir", str(SERVED["data"])]
    assert main(["send", "poison", "poison", "--id", "p1", "--prop", "n=1", *where]) == EXIT_OK
    assert capsys.readouterr().out.strip().isdigit()
    for _ in range(100):
        assert main(["deadletters", "poison", *where]) == EXIT_OK
        lines = capsys.readouterr().out.splitlines()
        if lines:
            break
        time.sleep(0.1)
    [dead] = [json.loads(line) for line in lines]
    assert dead["messageId"] == "p1" and dead["applicationProperties"] == {"n": 1}
    assert dead["deadLetterReason"] == "MaxDeliveryCountExceeded"
    assert "cannot handle message p1" in dead["deadLetterErrorDescription"]
    assert main(["send", "no-such-queue", "x", *where]) == EXIT_USAGE
    assert "no-such-queue" in capsys.readouterr().err
    assert main(["send", "poison", "x", "--prop", "novalue", *where]) == EXIT_USAGE
