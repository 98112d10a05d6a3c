"""Subscription filters of the embedded broker: Service Bus SQL filters and correlation filters.

Service Bus evaluates a subscription's rule against each message sent to the topic; only
matching messages are copied to the subscription. We implement the subset of the SQL filter
grammar that routing rules use in practice: comparisons (``= <> != < > <= >=``), ``IN`` /
``NOT IN``, ``LIKE`` (``%`` and ``_``), ``IS [NOT] NULL``, ``EXISTS(prop)``, ``AND`` / ``OR`` /
``NOT``, parentheses, string / number / ``TRUE`` / ``FALSE`` / ``NULL`` literals, and property
names either bare (application properties), ``user.name``, ``sys.Name`` (system properties
such as ``sys.MessageId``, ``sys.CorrelationId``, ``sys.Label``, ``sys.ContentType``) or
``[bracketed-name]``. A malformed expression is rejected when the subscription is created,
never when a message arrives. Comparing with a missing property is unknown (false), as in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Props = Mapping[str, Any]  # application properties
SysProps = Mapping[str, Any]  # system properties, keyed by lower-case name
Predicate = Callable[[Props, SysProps], bool]

_MISSING = object()


class FilterError(ValueError):
    """A subscription filter that cannot be parsed."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
      | (?P<bracket>\[[^\]]+\])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "TRUE", "FALSE", "EXISTS"}


@dataclass
class _Tok:
    kind: str  # str num op name kw end
    value: Any


def _tokenize(text: str) -> list[_Tok]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(_Tok("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            raw = m.group("num")
            out.append(_Tok("num", float(raw) if "." in raw else int(raw)))
        elif m.group("op") is not None:
            out.append(_Tok("op", m.group("op")))
        elif m.group("bracket") is not None:
            out.append(_Tok("name", m.group("bracket")[1:-1]))
        else:
            word = m.group("word")
            if word.upper() in _KEYWORDS:
                out.append(_Tok("kw", word.upper()))
            else:
                out.append(_Tok("name", word))
    out.append(_Tok("end", None))
    return out


Value = Callable[[Props, SysProps], Any]


def _property(name: str) -> Value:
    lowered = name.lower()
    if lowered.startswith("sys."):
        key = lowered[4:]
        return lambda props, sysp: sysp.get(key, _MISSING)
    if lowered.startswith("user."):
        name = name[5:]
    return lambda props, sysp: props.get(name, _MISSING)


def _const(value: Any) -> Value:
    return lambda props, sysp: value


def _cmp(op: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING or a is None or b is None:
        return False
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    num = (int, float)
    if isinstance(a, num) != isinstance(b, num):
        return False
    try:
        if op == "=":
            return bool(a == b)
        if op in ("<>", "!="):
            return bool(a != b)
        if op == "<":
            return bool(a < b)
        if op == ">":
            return bool(a > b)
        if op == "<=":
            return bool(a <= b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        return False
    raise FilterError(f"unknown operator {op}")


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern
    )
    return re.compile(f"^{regex}$", re.DOTALL)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: Any = None) -> _Tok:
        tok = self.take()
        if tok.kind != kind or (value is not None and tok.value != value):
            want = value if value is not None else kind
            raise FilterError(f"expected {want}, found {tok.value if tok.value else tok.kind!r}")
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek().kind != "end":
            raise FilterError(f"unexpected {self.peek().value!r} after a complete expression")
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while self.accept("kw", "OR"):
            right = self.and_expr()
            left = (lambda a, b: lambda p, s: a(p, s) or b(p, s))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.not_expr()
        while self.accept("kw", "AND"):
            right = self.not_expr()
            left = (lambda a, b: lambda p, s: a(p, s) and b(p, s))(left, right)
        return left

    def not_expr(self) -> Predicate:
        if self.accept("kw", "NOT"):
            inner = self.not_expr()
            return lambda p, s: not inner(p, s)
        return self.predicate()

    def predicate(self) -> Predicate:
        if self.accept("op", "("):
            inner = self.or_expr()
            self.expect("op", ")")
            return inner
        if self.accept("kw", "EXISTS"):
            self.expect("op", "(")
            prop = _property(self.expect("name").value)
            self.expect("op", ")")
            return lambda p, s: prop(p, s) is not _MISSING
        left = self.value()
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("=", "<>", "!=", "<", ">", "<=", ">="):
            self.take()
            right = self.value()
            op = tok.value
            return lambda p, s: _cmp(op, left(p, s), right(p, s))
        negate = self.accept("kw", "NOT")
        if self.accept("kw", "IN"):
            self.expect("op", "(")
            items = [self.value()]
            while self.accept("op", ","):
                items.append(self.value())
            self.expect("op", ")")

            def in_list(p: Props, s: SysProps) -> bool:
                v = left(p, s)
                if v is _MISSING or v is None:
                    return False
                found = any(_cmp("=", v, item(p, s)) for item in items)
                return found != negate

            return in_list
        if self.accept("kw", "LIKE"):
            pattern_tok = self.expect("str")
            regex = _like(pattern_tok.value)

            def like(p: Props, s: SysProps) -> bool:
                v = left(p, s)
                if not isinstance(v, str):
                    return False
                return bool(regex.match(v)) != negate

            return like
        if negate:
            raise FilterError("NOT must be followed by IN or LIKE here")
        if self.accept("kw", "IS"):
            is_not = self.accept("kw", "NOT")
            self.expect("kw", "NULL")
            return lambda p, s: (left(p, s) in (_MISSING, None)) != is_not
        raise FilterError(f"expected a comparison, found {tok.value if tok.value else tok.kind!r}")

    def value(self) -> Value:
        tok = self.take()
        if tok.kind in ("str", "num"):
            return _const(tok.value)
        if tok.kind == "name":
            return _property(tok.value)
        if tok.kind == "kw" and tok.value in ("TRUE", "FALSE"):
            return _const(tok.value == "TRUE")
        if tok.kind == "kw" and tok.value == "NULL":
            return _const(None)
        raise FilterError(f"expected a value, found {tok.value if tok.value else tok.kind!r}")


def compile_sql_filter(expression: str) -> Predicate:
    """Compile a Service Bus SQL filter expression into a predicate; raises FilterError."""
    if not expression or not expression.strip():
        raise FilterError("empty filter expression")
    try:
        return _Parser(expression).parse()
    except FilterError as exc:
        raise FilterError(f"bad SQL filter {expression!r}: {exc}") from None


_CORRELATION_SYSTEM = {
    "correlationid": "correlationid",
    "correlation_id": "correlationid",
    "messageid": "messageid",
    "message_id": "messageid",
    "label": "label",
    "subject": "label",
    "contenttype": "contenttype",
    "content_type": "contenttype",
    "to": "to",
    "replyto": "replyto",
    "reply_to": "replyto",
    "sessionid": "sessionid",
    "session_id": "sessionid",
}


def compile_correlation_filter(spec: Mapping[str, Any]) -> Predicate:
    """A correlation filter: every given system property and application property (under
    ``properties``) must be equal. Unknown system property names are rejected."""
    system: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("properties", "applicationProperties", "application_properties"):
            if not isinstance(value, Mapping):
                raise FilterError(f"correlation filter {key}: expected an object")
            user.update(value)
            continue
        name = _CORRELATION_SYSTEM.get(key.lower())
        if name is None:
            raise FilterError(f"correlation filter: unknown property {key!r}")
        system[name] = value
    if not system and not user:
        raise FilterError("correlation filter: no property to match")

    def match(props: Props, sysp: SysProps) -> bool:
        return all(sysp.get(k, _MISSING) == v for k, v in system.items()) and all(
            props.get(k, _MISSING) == v for k, v in user.items()
        )

    return match


def match_all(props: Props, sysp: SysProps) -> bool:
    """The default rule of a subscription (``1=1``)."""
    return True
