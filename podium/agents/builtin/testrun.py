"""Runs a generated service's own test suite with pytest under coverage, in a subprocess.

Why a subprocess: the generated service is a separate program (its own ``app`` package, its
own pytest.ini); importing it into the agent's process would mix modules of different services
and let a crashing test take the agent down. ``sys.executable`` is used so the run sees the
same installed packages as the agent (starlette, httpx, pytest, coverage).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from podium.agents.context import AgentContext, PermanentFailure, TransientFailure

DEFAULT_TIMEOUT_SEC = 300.0


def _clean_env(coverage_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_")) and k != "PYTHONPATH"}
    env["COVERAGE_FILE"] = str(coverage_file)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the workspace free of caches
    # the generated suite needs no plugin; whatever the agent's environment has installed
    # (hypothesis, playwright, timeout...) would only slow it down or change its behaviour
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _junit_counts(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                "failures": []}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failures = [f"{case.get('classname')}::{case.get('name')}"
                for case in root.iter("testcase")
                if case.find("failure") is not None or case.find("error") is not None]
    return {"total": total, "passed": total - failed - errors - skipped, "failed": failed,
            "errors": errors, "skipped": skipped, "failures": failures[:20]}


# What a service's test run reads: its code, its tests, its contract and the test settings.
# Config written later by other agents (appsettings, events, observability) is not among them.
TEST_INPUTS = ("app", "tests", "openapi.json", "pytest.ini", ".coveragerc")


def source_digest(base: Path) -> str:
    """sha256 over the files a test run reads (path and content), caches excluded."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in TEST_INPUTS:
        target = base / name
        files += sorted(target.rglob("*")) if target.is_dir() else [target]
    for path in files:
        relative = path.relative_to(base).as_posix()
        if not path.is_file() or "__pycache__" in relative or relative.endswith(".pyc"):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run_service_tests(ctx: AgentContext, service: str, timeout: float | None = None,
                      *, reuse: bool = False) -> dict[str, Any]:
    """Run ``services/<service>`` tests; write ``qa/<service>/results.json`` and junit.xml.

    Returns the results dict: total, passed, failed, errors, skipped, coverage (percent, or
    None when nothing ran), exitCode, durationMs, failures (first 20 test ids), sourceDigest.

    ``reuse``: when the last recorded run passed on exactly the same sources (same
    ``sourceDigest``), return it (marked ``"reused": true``) instead of running again. The
    generated suites are deterministic, so the same code gives the same verdict; a failed run
    is never reused.
    """
    base = ctx.path(f"services/{service}")
    if not (base / "tests").is_dir():
        raise PermanentFailure(f"MissingArtifact: services/{service}/tests does not exist")
    digest = source_digest(base)
    report = f"qa/{service}"
    if reuse and ctx.exists(f"{report}/results.json"):
        previous = ctx.read_json(f"{report}/results.json")
        if previous.get("sourceDigest") == digest and previous.get("passedAll"):
            return {**previous, "reused": True}
    limit = min(timeout or DEFAULT_TIMEOUT_SEC, max(ctx.remaining(), 1.0))
    ctx.path(report).mkdir(parents=True, exist_ok=True)
    junit = ctx.path(f"{report}/junit.xml")
    junit.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="podium-qa-") as tmp:
        env = _clean_env(Path(tmp) / ".coverage")
        command = [sys.executable, "-m", "coverage", "run", "--rcfile=.coveragerc",
                   "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        started = time.perf_counter()
        try:
            run = subprocess.run(command, cwd=base, env=env, capture_output=True, text=True,
                                 timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            raise TransientFailure(f"TestRunTimeout: {service} tests ran over {limit:.0f}s"
                                   ) from None
        duration = (time.perf_counter() - started) * 1000
        coverage_json = Path(tmp) / "coverage.json"
        cov = subprocess.run([sys.executable, "-m", "coverage", "json", "--rcfile=.coveragerc",
                              "-q", "-o", str(coverage_json)], cwd=base, env=env,
                             capture_output=True, text=True, timeout=60, check=False)
        percent = None
        if cov.returncode == 0 and coverage_json.exists():
            totals = json.loads(coverage_json.read_text())["totals"]
            percent = round(float(totals["percent_covered"]), 1)
    counts = _junit_counts(junit)
    results = {
        "serviceName": service, **counts, "coverage": percent, "exitCode": run.returncode,
        "sourceDigest": digest, "reused": False,
        "durationMs": round(duration, 1), "testSuite": "pytest",
        "command": " ".join(["python", *command[1:-1], f"--junitxml={report}/junit.xml"]),
        "outputTail": (run.stdout + run.stderr)[-2000:],
    }
    results["passedAll"] = (run.returncode == 0 and counts["total"] > 0
                            and counts["failed"] == 0 and counts["errors"] == 0)
    if junit.exists():
        ctx.record(f"{report}/junit.xml")
    ctx.write_json(f"{report}/results.json", results)
    return results
