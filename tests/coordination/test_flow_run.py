"""The flow runner's decisions on agent outcomes, human answers and escalations."""

from __future__ import annotations

from podium.coordination import flow_run
from podium.domain import ExecutionGraph, OrchestrationTask, TaskStatus
from podium.domain.task import HumanTaskSpec

AT = "2030-01-01T00:00:00Z"


def graph() -> ExecutionGraph:
    g = ExecutionGraph([
        OrchestrationTask("a", "Work", agent_id="developer-agent"),
        OrchestrationTask("opt", "Extra", agent_id="integration-agent", optional=True,
                          depends_on=["a"]),
        OrchestrationTask("ok", "Approve", human=HumanTaskSpec(title="Approve it",
                                                               fallback_action="skip"),
                          depends_on=["a"]),
        OrchestrationTask("z", "Final", agent_id="qa-agent", depends_on=["opt", "ok"]),
    ])
    g.mark_in_progress("a", at=AT)
    return g


def test_completed_agent_task_releases_its_dependents():
    g = graph()
    step = flow_run.apply_agent_outcome(g, "a", {"status": "Completed", "outputs": {"x": 1}}, AT)
    assert g.task("a").status is TaskStatus.COMPLETED and g.task("a").outputs == {"x": 1}
    assert {t.task_id for t in g.next_executable_tasks()} == {"opt", "ok"}
    assert step.escalate is None and step.abort_reason is None


def test_optional_failure_is_skipped_and_required_failure_escalates():
    g = graph()
    flow_run.apply_agent_outcome(g, "a", {"status": "Completed"}, AT)
    g.mark_in_progress("opt", at=AT)
    step = flow_run.apply_agent_outcome(g, "opt", {"status": "Skipped", "reason": "boom"}, AT)
    assert g.task("opt").status is TaskStatus.SKIPPED and step.escalate is None
    g2 = graph()
    step = flow_run.apply_agent_outcome(g2, "a", {"status": "Failed", "reason": "boom",
                                                  "action": "Escalate"}, AT)
    assert g2.task("a").status is TaskStatus.FAILED
    assert step.escalate["options"] == ["Retry", "Skip", "Abort"]


def test_policy_abort_and_stall_are_recorded():
    g = graph()
    step = flow_run.apply_agent_outcome(g, "a", {"status": "Failed", "reason": "secret",
                                                 "action": "Abort", "stalled": True}, AT)
    assert [t["to"] for t in step.transitions] == ["Stalled", "Failed"]
    assert step.abort_reason and "abort" in step.abort_reason


def test_human_answers_and_timeouts_follow_the_checkpoint():
    g = graph()
    flow_run.apply_agent_outcome(g, "a", {"status": "Completed"}, AT)
    g.mark_in_progress("ok", at=AT)
    flow_run.apply_human_outcome(g, "ok", {"response": "Approve", "submittedBy": "user:x"}, AT)
    assert g.task("ok").status is TaskStatus.COMPLETED
    assert g.task("ok").outputs["submittedBy"] == "user:x"
    g = graph()
    flow_run.apply_agent_outcome(g, "a", {"status": "Completed"}, AT)
    g.mark_in_progress("ok", at=AT)
    step = flow_run.apply_human_outcome(g, "ok", {"response": "TimedOut",
                                                  "fallbackAction": "skip"}, AT)
    assert g.task("ok").status is TaskStatus.SKIPPED and step.abort_reason is None
    g = graph()
    flow_run.apply_agent_outcome(g, "a", {"status": "Completed"}, AT)
    g.mark_in_progress("ok", at=AT)
    step = flow_run.apply_human_outcome(g, "ok", {"response": "Reject",
                                                  "submittedBy": "user:y"}, AT)
    assert step.abort_reason == "Approve rejected by user:y"


def test_escalation_answers_retry_skip_or_abort():
    for answer, expected in (("Retry", TaskStatus.READY), ("Skip", TaskStatus.SKIPPED)):
        g = graph()
        flow_run.apply_agent_outcome(g, "a", {"status": "Failed", "action": "Escalate"}, AT)
        step = flow_run.apply_escalation_answer(g, "a", {"response": answer,
                                                         "submittedBy": "user:admin"}, AT)
        assert g.task("a").status is expected and step.abort_reason is None
    g = graph()
    flow_run.apply_agent_outcome(g, "a", {"status": "Failed", "action": "Escalate"}, AT)
    step = flow_run.apply_escalation_answer(g, "a", {"response": "TimedOut"}, AT)
    assert step.abort_reason
