"""Fault tests of the factory (issue 4), agent side: the real app under the local host on a
virtual clock, the built-in agents on the host's broker, faults injected through the project
request's ``_fault`` block (docs/agents.md). Each test shows the documented outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.factory.conftest import small_request


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _scheduled(factory, pid: str, task_id: str) -> list[dict]:
    rows = factory.audit(pid, "AgentTaskScheduled", taskId=task_id)
    return sorted(rows, key=lambda r: r["details"]["attempt"])


def test_transient_failure_is_retried_with_growing_delays(factory):
    """GenerateVisionPlan fails twice (transient), then succeeds: the retries wait on durable
    timers of 30 s then 60 s (the flow's exponential policy), visible in the audit trail."""
    task = "GenerateVisionPlan"
    pid = factory.create(
        small_request("retry-1", _fault={"taskTypes": [task], "failAttempts": 2})
    )
    failed = factory.wait_audit(pid, "AgentTaskFailed", taskId=task)
    first = failed[0]["details"]["decision"]
    assert first["action"] == "Retry" and first["delaySec"] == 30, first
    factory.quiet(pid, {task})

    factory.host.advance(timedelta(seconds=29))
    factory.quiet(pid, {task})
    assert len(_scheduled(factory, pid, task)) == 1, "retried before its 30 s backoff"
    factory.host.advance(timedelta(seconds=2))
    factory.wait_audit(pid, "AgentTaskFailed", count=2, taskId=task)
    factory.quiet(pid, {task})

    failures = sorted(factory.audit(pid, "AgentTaskFailed", taskId=task),
                      key=lambda r: r["details"]["attempt"])
    second = failures[1]["details"]["decision"]
    assert second["action"] == "Retry" and second["delaySec"] > first["delaySec"], second

    factory.host.advance(timedelta(seconds=31))
    factory.quiet(pid, {task})
    assert len(_scheduled(factory, pid, task)) == 2, "retried before its 60 s backoff"
    factory.host.advance(timedelta(seconds=30))
    factory.wait(lambda: factory.node(pid, "project-bootstrap", task)["status"] == "Completed")

    scheduled = _scheduled(factory, pid, task)
    assert [r["details"]["attempt"] for r in scheduled] == [1, 2, 3]
    gaps = [
        (_ts(scheduled[i + 1]["timestamp"]) - _ts(failures[i]["timestamp"])).total_seconds()
        for i in range(2)
    ]
    assert gaps[0] >= 30 and gaps[1] >= 60 and gaps[1] > gaps[0], gaps
    node = factory.node(pid, "project-bootstrap", task)
    assert node["outputs"]  # attempt 3 did the real work
    state = factory.approve_all(pid, lambda s: s["locked"] or s["status"] == "Failed")
    assert state["status"] == "Completed", state["status"]
    summary = state["delivery"]["summary"]
    assert summary["retries"] == 2, summary["retries"]
    bootstrap = next(f for f in summary["flows"] if f["flow"] == "project-bootstrap")
    assert bootstrap["retries"] == 2, bootstrap
