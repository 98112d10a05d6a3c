"""JSON log lines: shape, correlation fields, and that secret values never appear."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from podium.observability import (
    JsonFormatter,
    add_redactor,
    bind_context,
    configure_logging,
    current_context,
    start_span,
)
from podium.observability.logging import CORE_FIELDS

SECRET = "s3cr3t-Value-9f8e7d"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

log = logging.getLogger("podium.test.logging")


def _lines(stream: io.StringIO) -> list[dict]:
    raw = stream.getvalue().splitlines()
    return [json.loads(line) for line in raw if line.strip()]


def test_one_json_line_per_record_with_core_fields(log_stream: io.StringIO) -> None:
    with bind_context(trace_id=TRACE, tenant_id="t1", project_id="p1"):
        log.info(
            "applied %s",
            "template",
            extra={
                "task_id": "T1",
                "agent_id": "dev-agent",
                "duration_ms": 3125,
                "template": "svc",
            },
        )
    log.warning("outside")
    lines = log_stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert list(first)[: len(CORE_FIELDS)] == list(CORE_FIELDS)
    assert first["message"] == "applied template"
    assert first["level"] == "INFO"
    assert first["logger"] == "podium.test.logging"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["timestamp"])
    assert (first["traceId"], first["tenantId"], first["projectId"]) == (TRACE, "t1", "p1")
    assert (first["taskId"], first["agentId"], first["durationMs"]) == ("T1", "dev-agent", 3125)
    assert first["template"] == "svc"
    # context does not leak out of the with block; unknown core fields are null, not missing
    assert second["traceId"] is None and second["projectId"] is None
    assert set(CORE_FIELDS) <= set(second)


def test_extra_overrides_bound_context_and_nesting_merges(log_stream: io.StringIO) -> None:
    with bind_context(project_id="p1", task_id="outer"), bind_context(task_id="inner"):
        assert current_context() == {"projectId": "p1", "taskId": "inner"}
        log.info("a")
        log.info("b", extra={"taskId": "explicit"})
    a, b = _lines(log_stream)
    assert (a["projectId"], a["taskId"]) == ("p1", "inner")
    assert b["taskId"] == "explicit"


def test_trace_id_comes_from_active_span(log_stream: io.StringIO, spans: None) -> None:
    with start_span("activity", trace_id=TRACE):
        log.info("inside span")
    (line,) = _lines(log_stream)
    assert line["traceId"] == TRACE
    assert re.fullmatch(r"[0-9a-f]{16}", line["spanId"])


def test_secret_value_never_appears(log_stream: io.StringIO) -> None:
    add_redactor(lambda text: text.replace(SECRET, "***"))
    try:
        raise RuntimeError(f"vault said {SECRET}")
    except RuntimeError:
        log.exception(
            "resolved %s for %s",
            SECRET,
            "db",
            extra={
                "connection": f"Server=x;Password={SECRET}",
                "nested": {"k": [SECRET]},
                SECRET: "as a key",
            },
        )
    output = log_stream.getvalue()
    assert SECRET not in output
    (line,) = _lines(log_stream)
    assert line["message"] == "resolved *** for db"
    assert line["connection"] == "Server=x;Password=***"
    assert line["nested"] == {"k": ["***"]}
    assert "vault said ***" in line["exception"]


def test_object_redactor_and_foreign_handlers_are_redacted() -> None:
    """An adapters-style Redactor object (with ``redact``) also protects handlers Podium does
    not own, e.g. the Functions worker's, through the filter configure_logging installs."""

    class Redactor:
        def redact(self, text: str) -> str:
            return text.replace(SECRET, "[secret]")

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    foreign_stream, json_stream = io.StringIO(), io.StringIO()
    foreign = logging.StreamHandler(foreign_stream)
    foreign.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(foreign)
    remove = add_redactor(Redactor())
    try:
        configure_logging("INFO", json_stream)
        try:
            raise ValueError(SECRET)
        except ValueError:
            log.error("token=%s", SECRET, exc_info=True)
    finally:
        remove()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    assert SECRET not in foreign_stream.getvalue()
    assert "token=[secret]" in foreign_stream.getvalue()
    assert SECRET not in json_stream.getvalue()
    assert "token=[secret]" in json_stream.getvalue()


def test_configure_logging_is_idempotent(log_stream: io.StringIO) -> None:
    second = io.StringIO()
    configure_logging("INFO", second)
    log.info("once")
    assert log_stream.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


def test_failing_redactor_still_writes_a_json_line(log_stream: io.StringIO) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("bug")

    add_redactor(broken)
    log.info("password %s", SECRET)
    (line,) = _lines(log_stream)
    assert line["message"] == "[REDACTION FAILED]" and line["level"] == "INFO"


def test_adapters_secret_redactor_plugs_in(log_stream: io.StringIO) -> None:
    """The real Redactor of resolved secret values (podium.adapters.secrets) masks them here."""
    secrets_module = pytest.importorskip("podium.adapters.secrets")
    redactor = secrets_module.Redactor()
    redactor.register(SECRET)
    add_redactor(redactor)
    log.info("db password is %s", SECRET, extra={"cfg": {"pwd": SECRET}})
    assert SECRET not in log_stream.getvalue()
    (line,) = _lines(log_stream)
    assert SECRET not in line["message"] and line["cfg"]["pwd"] != SECRET


def test_secret_with_json_special_characters_is_redacted_before_encoding() -> None:
    """A value with quotes/backslashes is spelled differently once JSON-encoded, so only the
    per-field pass (before encoding) can catch it; the final pass on the line would not. The
    formatter is used directly: on a root logger, other handlers' RedactionFilter may already
    have rewritten the record."""
    tricky = 'p"ss\\w0rd-x'
    remove = add_redactor(lambda text: text.replace(tricky, "***"))
    try:
        record = logging.LogRecord(
            "podium.t", logging.INFO, __file__, 1, "login with %s", (tricky,), None
        )
        record.cfg = {"pwd": tricky}
        output = JsonFormatter().format(record)
    finally:
        remove()
    assert json.dumps(tricky)[1:-1] not in output and tricky not in output
    line = json.loads(output)
    assert line["message"] == "login with ***" and line["cfg"] == {"pwd": "***"}
