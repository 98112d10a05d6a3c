"""Event contracts: envelope, typed payloads, readable errors, immutability, idempotency."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from podium.domain import PAYLOAD_TYPES, ContractError, EventEnvelope, new_event, parse_event
from podium.domain.contracts import (
    AgentTaskCompleted,
    HumanTaskResponseReceived,
    LifecyclePhaseAdvanced,
)
from podium.domain.phases import LifecyclePhase

TS = "2025-05-05T16:40:00Z"

SEED_NAMED = [
    "ProjectCreated", "MicroservicePlanned", "AgentTaskScheduled", "AgentTaskAcknowledged",
    "AgentTaskCompleted", "AgentTaskFailed", "TemplateApplied", "LifecyclePhaseAdvanced",
    "PhaseAdvanced", "ExecutionGraphBuilt", "TaskStalled", "HumanTaskRequested",
    "HumanTaskResponseReceived", "ManualInterventionRequired", "OrchestrationTaskFailed",
    "OrchestrationFailed", "PartialOrchestrationCompleted", "OrchestrationCascadeTriggered",
    "MicroserviceAssemblyCompleted", "MicroserviceQAVerified", "PipelineSetupCompleted",
    "SecurityHardeningVerified", "ProjectDeliveryComplete",
]  # fmt: skip


def envelope(event_type: str, payload: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {
        "eventType": event_type,
        "eventId": "evt-123",
        "traceId": "trace-xyz",
        "tenantId": "tenant-abc",
        "projectId": "proj-abc",
        "source": "developer-agent",
        "payload": payload,
        "timestamp": TS,
    }
    data.update(over)
    return data


def test_every_seed_event_has_a_payload_type() -> None:
    assert set(SEED_NAMED) <= set(PAYLOAD_TYPES)


def test_seed_example_parses_typed() -> None:
    e = parse_event(
        envelope(
            "AgentTaskCompleted",
            {"taskId": "T1", "agentId": "developer-agent", "status": "Success",
             "outputs": {"filesGenerated": 14}},
        )
    )  # fmt: skip
    assert isinstance(e.payload, AgentTaskCompleted)
    assert e.payload.outputs == {"filesGenerated": 14}
    assert e.idempotency_key == "proj-abc:evt-123"
    assert e.schema_version == 1


def test_round_trip_through_json_is_identical() -> None:
    e = parse_event(
        envelope(
            "LifecyclePhaseAdvanced",
            {"from": "PlanningPhase", "to": "AssemblyPhase", "triggeredBy": "bootstrap"},
            microserviceId="svc-1",
            origin="ProjectBootstrapOrchestrator/Planning/3",
        )
    )
    again = parse_event(json.loads(json.dumps(e.to_dict())))
    assert again == e
    assert e.to_dict()["payload"]["from"] == "Planning"  # canonical short phase names
    assert isinstance(e.payload, LifecyclePhaseAdvanced)
    assert e.payload.to is LifecyclePhase.ASSEMBLY


def test_unknown_fields_are_kept() -> None:
    e = parse_event(
        envelope(
            "HumanTaskResponseReceived",
            {"taskId": "m1", "response": "Approved", "submittedBy": "user:d", "newThing": [1]},
            futureEnvelopeField="x",
        )
    )
    d = e.to_dict()
    assert d["payload"]["newThing"] == [1]
    assert d["futureEnvelopeField"] == "x"


@pytest.mark.parametrize(
    "data,expected",
    [
        (envelope("AgentTaskCompleted", {"agentId": "a"}), ["payload.taskId: field required"]),
        (
            envelope("AgentTaskScheduled", {"taskId": "t", "agentId": "a", "taskType": "X",
                                            "attempt": 0}),
            ["payload.attempt: Input should be greater than or equal to 1"],
        ),
        (envelope("ProjectCreated", {}, traceId=None), ["traceId: Input should be a valid string"]),
        (envelope("ProjectCreated", {}, timestamp="2025-05-05T16:40:00"),
         ["timestamp: Input should have timezone info"]),
        (envelope("Nope", {}), ["eventType: unknown event type 'Nope'"]),
        (envelope("ProjectCreated", []), ["payload: must be an object, got list"]),
    ],
)  # fmt: skip
def test_errors_name_field_and_reason(data: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ContractError) as err:
        parse_event(data)
    assert err.value.errors == expected


def test_missing_event_type_and_non_mapping() -> None:
    with pytest.raises(ContractError, match="eventType: field required"):
        parse_event({"payload": {}})
    with pytest.raises(ContractError, match="must be a JSON object"):
        parse_event(["not", "an", "event"])  # type: ignore[arg-type]


def test_unknown_type_allowed_on_request() -> None:
    e = parse_event(envelope("SomethingNew", {"x": 1}), allow_unknown_type=True)
    assert e.to_dict()["payload"] == {"x": 1}


def test_events_are_immutable() -> None:
    e = parse_event(envelope("ProjectCreated", {"triggeredBy": "user:d"}))
    with pytest.raises(ValidationError):
        e.project_id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        e.payload.triggered_by = "x"  # type: ignore[attr-defined]


def test_new_event_uses_caller_id_and_time() -> None:
    e = new_event(
        "HumanTaskResponseReceived",
        tenant_id="t",
        project_id="p",
        trace_id="tr",
        source="studio",
        payload=HumanTaskResponseReceived(task_id="m", response="Approve", submitted_by="u"),
        event_id="p:bootstrap:human:m",
        timestamp=TS,
    )
    assert e.event_id == "p:bootstrap:human:m"
    assert e.to_dict()["timestamp"] == TS
    assert isinstance(e.payload, HumanTaskResponseReceived)
    with pytest.raises(ContractError, match="payload.submittedBy: field required"):
        new_event(
            "HumanTaskResponseReceived", tenant_id="t", project_id="p", trace_id="tr",
            source="studio", payload={"taskId": "m", "response": "ok"}, event_id="e",
            timestamp=TS,
        )  # fmt: skip


def test_direct_construction_types_payload() -> None:
    e = EventEnvelope(
        event_type="MicroservicePlanned", event_id="e", trace_id="t", tenant_id="t",
        project_id="p", source="planner-agent", timestamp=TS,
        payload={"microserviceId": "svc-1", "name": "orders"},
    )  # fmt: skip
    assert e.payload.name == "orders"  # type: ignore[attr-defined]


def test_timestamps_are_normalized_to_utc() -> None:
    e = parse_event(envelope("ProjectCreated", {}, timestamp="2025-05-05T18:40:00+02:00"))
    assert e.to_dict()["timestamp"] == TS


def _sample(annotation: Any) -> Any:
    text = str(annotation)
    if "LifecyclePhase" in text:
        return "SecurityPhase"
    if annotation is int:
        return 3
    if annotation is float:
        return 1.5
    if "list" in text:
        return ["x"]
    if "dict" in text:
        return {"k": "v"}
    return "value"


@pytest.mark.parametrize("event_type", sorted(PAYLOAD_TYPES))
def test_every_contract_round_trips_and_names_each_required_field(event_type: str) -> None:
    model = PAYLOAD_TYPES[event_type]
    required = {
        (f.alias or name): f.annotation for name, f in model.model_fields.items() if f.is_required()
    }
    payload = {alias: _sample(ann) for alias, ann in required.items()}
    event = parse_event(envelope(event_type, payload))
    assert type(event.payload) is model
    assert parse_event(json.loads(json.dumps(event.to_dict()))) == event
    for alias in required:
        broken = {k: v for k, v in payload.items() if k != alias}
        with pytest.raises(ContractError) as err:
            parse_event(envelope(event_type, broken))
        assert f"payload.{alias}: field required" in err.value.errors
