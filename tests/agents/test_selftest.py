"""The agents' self-test CLI: a check and a timing of the agents alone."""

from __future__ import annotations

import json

from podium.agents import FaultSpec, selftest


def test_selftest_runs_a_synthetic_project(tmp_path, capsys) -> None:
    assert selftest.main(["--services", "2", "--keep", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["services"] == 2 and report["failures"] == []
    assert report["tests"]["passed"] > 0 and report["tests"]["failed"] == 0
    assert report["byTaskType"]["RunMicroserviceValidation"]["count"] == 2
    assert (tmp_path / "bench/synthetic-2/services/svc002/app/api.py").is_file()


def test_selftest_reports_failures(capsys, monkeypatch) -> None:
    real = selftest.builtin_workers

    def workers():
        built = real()
        built["developer-agent"].inject_fault(FaultSpec(fail_attempts=1, permanent=True))
        return built

    monkeypatch.setattr(selftest, "builtin_workers", workers)
    assert selftest.main(["--services", "1"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failures"][0]["taskType"] == "ApplyMicroserviceTemplate"
    assert report["failures"][0]["reason"].startswith("InjectedFault: attempt 1")
