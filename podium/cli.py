"""``podium`` command line: run the local host, and drive a running one over its HTTP API.

Exit codes (for scripts): 0 ok; 1 runtime failure (the host answered 5xx or refused the
operation for the instance's state, e.g. 410); 2 usage error, unknown name, bad JSON or
refused key; 3 host unreachable. Errors are one line on stderr, starting with ``podium:``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_URL = "http://127.0.0.1:7071"
API = "/runtime/webhooks/durabletask"
STATUSES = ("Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Terminated",
            "Suspended")


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not valid JSON ({exc.msg} at column {exc.colno}): {text!r}",
                       EXIT_USAGE) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Run Podium's Functions app locally (podium host) and drive a running host.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 usage / unknown name / bad input, "
               "3 host unreachable.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    host = sub.add_parser("host", help="serve the Functions app locally (like `func start`)")
    host.add_argument("--port", type=int, default=7071, help="TCP port (default 7071; 0: any)")
    host.add_argument("--app-dir", default=".", help="directory of function_app.py")
    host.add_argument("--data-dir", default=None,
                      help="task hub + broker directory (default PODIUM_DATA_DIR or .podium)")
    host.add_argument("--bind", default="127.0.0.1", help="address to listen on (loopback)")
    host.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING ...")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--url", default=os.environ.get("PODIUM_URL", DEFAULT_URL),
                       help=f"the running host (default $PODIUM_URL or {DEFAULT_URL})")
        p.add_argument("--key", default=None,
                       help="durable system or master key (default: $PODIUM_DURABLE_KEY, "
                            "$PODIUM_MASTER_KEY, then the app's settings / generated keys)")
        p.add_argument("--app-dir", default=".", help="app directory to read keys from")
        return p

    p = client("start", "start an orchestration; prints its instance id")
    p.add_argument("name")
    p.add_argument("--input", default=None, help="input as JSON")
    p.add_argument("--id", default=None, help="instance id (default: generated)")
    p = client("status", "print an instance's status as JSON")
    p.add_argument("instance_id")
    p.add_argument("--history", action="store_true", help="include the history")
    p = client("raise", "raise an external event")
    p.add_argument("instance_id")
    p.add_argument("event")
    p.add_argument("data", help="event data as JSON")
    p = client("instances", "list instances")
    p.add_argument("--status", action="append", choices=STATUSES,
                   help="runtime status filter (repeatable)")
    p.add_argument("--prefix", default=None, help="instance id prefix")
    p.add_argument("--top", type=int, default=100, help="page size")
    p = client("terminate", "terminate an instance")
    p.add_argument("instance_id")
    p.add_argument("--reason", default="terminated from the podium CLI")
    p = client("purge", "purge one instance, or every finished one")
    p.add_argument("instance_id", nargs="?")
    p.add_argument("--status", action="append", choices=STATUSES,
                   help="with no id: statuses to purge (default Completed, Failed, Terminated)")

    p = sub.add_parser("send", help="send a message to the app's embedded Service Bus broker")
    p.add_argument("entity", help="queue or topic name")
    p.add_argument("body", help="message body (text)")
    p.add_argument("--id", default=None, help="MessageId (default: generated)")
    p.add_argument("--correlation-id", default=None)
    p.add_argument("--prop", action="append", default=[], metavar="NAME=VALUE",
                   help="application property; VALUE is JSON if it parses, else text")
    p.add_argument("--app-dir", default=".", help="app directory (finds the broker file)")
    p.add_argument("--data-dir", default=None, help="data directory (default as `host`)")
    p = sub.add_parser("deadletters", help="print the dead-letter queue of a queue/subscription")
    p.add_argument("path", help="queue, or topic/Subscriptions/subscription")
    p.add_argument("--app-dir", default=".")
    p.add_argument("--data-dir", default=None)

    p = sub.add_parser("answer", help="answer a pending human task (Approve / Reject / Edit)")
    p.add_argument("project_id")
    p.add_argument("task_id")
    p.add_argument("response", help="one of the task's options, e.g. Approve")
    p.add_argument("--data", default=None, help="JSON object for an Edit response")
    p.add_argument("--comment", default=None)
    p.add_argument("--user", default=None, help="act as this user (sends an Easy Auth principal; "
                                                "default: the host's dev principal)")
    p.add_argument("--role", action="append", default=[], help="role of --user (repeatable)")
    p.add_argument("--url", default=os.environ.get("PODIUM_URL", DEFAULT_URL))
    p.set_defaults(handler=cmd_answer)

    try:  # the lead's `podium run` lives in podium/runner.py; register it only if present
        from podium import runner
    except ImportError:
        runner = None  # type: ignore[assignment]
    if runner is not None and hasattr(runner, "add_arguments") and hasattr(runner, "main"):
        run = sub.add_parser("run", help="run a project end to end (podium.runner)")
        runner.add_arguments(run)
        run.set_defaults(handler=runner.main)
    return parser


# -- talking to a running host -------------------------------------------------------------

def _key(args: argparse.Namespace) -> str | None:
    if args.key:
        return args.key
    for name in ("PODIUM_DURABLE_KEY", "PODIUM_MASTER_KEY"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        from podium.localhost.settings import load_settings

        settings = load_settings(Path(args.app_dir), generate_keys=False)
        return settings.durable_key or settings.master_key or None
    except Exception:  # no readable app settings here: let the host say 401
        return None


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    headers = dict(kwargs.pop("headers", {}) or {})
    key = _key(args)
    if key:
        headers["x-functions-key"] = key
    url = args.url.rstrip("/") + API + path
    try:
        response = httpx.request(method, url, headers=headers, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the host at {args.url} ({type(exc).__name__}); "
                       "is `podium host` running?", EXIT_UNREACHABLE) from None
    return response


def _fail_on(response: Any, ok: tuple[int, ...]) -> Any:
    if response.status_code in ok:
        return response
    try:
        message = response.json().get("message") or response.text
    except (ValueError, AttributeError):
        message = response.text or f"HTTP {response.status_code}"
    code = EXIT_USAGE if response.status_code in (400, 401, 403, 404, 405) else EXIT_FAILURE
    raise CliError(f"{message} (HTTP {response.status_code})", code)


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def cmd_answer(args: argparse.Namespace) -> int:
    """POST the answer to the app's human-task endpoint (the role check is the app's)."""
    import httpx

    from podium.coordination.principal import encode_principal

    body: dict[str, Any] = {"response": args.response}
    if args.data is not None:
        body["data"] = _json_arg(args.data, "--data")
    if args.comment:
        body["comment"] = args.comment
    headers = {}
    if args.user:
        headers["X-MS-CLIENT-PRINCIPAL"] = encode_principal(args.user, args.role)
    url = f"{args.url.rstrip('/')}/api/projects/{args.project_id}/human-tasks/{args.task_id}"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the host at {args.url} ({type(exc).__name__})",
                       EXIT_UNREACHABLE) from None
    if response.status_code != 200:
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        code = EXIT_USAGE if response.status_code in (400, 403, 404, 409) else EXIT_FAILURE
        raise CliError(f"{message} (HTTP {response.status_code})", code)
    _print(response.json())
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    body = _json_arg(args.input, "--input") if args.input is not None else None
    path = f"/orchestrators/{quote(args.name, safe='')}"
    if args.id:
        path += f"/{quote(args.id, safe='')}"
    kwargs = {"content": json.dumps(body).encode(), "headers": {
        "Content-Type": "application/json"}} if args.input is not None else {}
    response = _fail_on(_call(args, "POST", path, **kwargs), (202,))
    print(response.json()["id"])
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    params = {"showHistory": "true"} if args.history else {}
    response = _fail_on(_call(args, "GET", f"/instances/{quote(args.instance_id, safe='')}",
                              params=params), (200, 202, 400))
    _print(response.json())
    return EXIT_OK


def cmd_raise(args: argparse.Namespace) -> int:
    data = _json_arg(args.data, "event data")
    path = (f"/instances/{quote(args.instance_id, safe='')}/raiseEvent/"
            f"{quote(args.event, safe='')}")
    _fail_on(_call(args, "POST", path, content=json.dumps(data).encode(),
                   headers={"Content-Type": "application/json"}), (202,))
    return EXIT_OK


def cmd_instances(args: argparse.Namespace) -> int:
    params: dict[str, str] = {"top": str(args.top)}
    if args.status:
        params["runtimeStatus"] = ",".join(args.status)
    if args.prefix:
        params["instanceIdPrefix"] = args.prefix
    out: list[Any] = []
    token = None
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        response = _fail_on(_call(args, "GET", "/instances", params=params, headers=headers),
                            (200,))
        out.extend(response.json())
        token = response.headers.get("x-ms-continuation-token")
        if not token:
            break
    for item in out:
        print(f"{item['instanceId']}\t{item['runtimeStatus']}\t{item['name']}\t"
              f"{item.get('createdTime') or ''}")
    return EXIT_OK


def cmd_terminate(args: argparse.Namespace) -> int:
    path = f"/instances/{quote(args.instance_id, safe='')}/terminate"
    _fail_on(_call(args, "POST", path, params={"reason": args.reason}), (202,))
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    if args.instance_id:
        response = _fail_on(
            _call(args, "DELETE", f"/instances/{quote(args.instance_id, safe='')}"), (200,))
    else:
        statuses = args.status or ["Completed", "Failed", "Terminated"]
        response = _call(args, "DELETE", "/instances", params={
            "runtimeStatus": ",".join(statuses), "createdTimeFrom": "1970-01-01T00:00:00Z"})
        if response.status_code == 404:
            print(0)
            return EXIT_OK
        _fail_on(response, (200,))
    print(response.json()["instancesDeleted"])
    return EXIT_OK


# -- the embedded broker (opened directly: the host's pumps see new messages on their next poll)

def _broker(args: argparse.Namespace) -> Any:
    from podium.localhost.broker import Broker
    from podium.localhost.settings import SettingsError, load_settings

    try:
        settings = load_settings(Path(args.app_dir), data_dir=args.data_dir, generate_keys=False)
    except SettingsError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    path = settings.data_dir / f"{settings.hub_name}-servicebus.sqlite"
    if not path.exists():
        raise CliError(f"no broker at {path}: start `podium host` for this app first", EXIT_USAGE)
    return Broker(path)


def cmd_send(args: argparse.Namespace) -> int:
    from podium.localhost.broker import BrokerError

    props: dict[str, Any] = {}
    for item in args.prop:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CliError(f"--prop {item!r}: expected NAME=VALUE", EXIT_USAGE)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if not isinstance(value, str | int | float | bool) and value is not None:
            value = raw
        props[name] = value
    broker = _broker(args)
    try:
        seq = broker.send(args.entity, args.body, message_id=args.id,
                          correlation_id=args.correlation_id, application_properties=props)
    except BrokerError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    finally:
        broker.close()
    print("duplicate (dropped)" if seq is None else seq)
    return EXIT_OK


def cmd_deadletters(args: argparse.Namespace) -> int:
    from podium.localhost.broker import DLQ_SUFFIX, BrokerError

    broker = _broker(args)
    try:
        messages = broker.peek(args.path + DLQ_SUFFIX, 1000)
    except BrokerError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    finally:
        broker.close()
    for m in messages:
        print(json.dumps({
            "messageId": m.message_id, "sequenceNumber": m.sequence_number,
            "deliveryCount": m.delivery_count, "deadLetterReason": m.dead_letter_reason,
            "deadLetterErrorDescription": m.dead_letter_error_description,
            "applicationProperties": m.application_properties,
            "body": m.body.decode("utf-8", errors="replace"),
        }))
    return EXIT_OK


# -- serving ---------------------------------------------------------------------------------

def _dash_outside_invocations(record: logging.LogRecord) -> bool:
    """Host lines (not inside a function invocation) show ``-`` for function and id."""
    for name in ("function_name", "invocation_id"):
        if getattr(record, name, None) is None:
            setattr(record, name, "-")
    return True


def cmd_host(args: argparse.Namespace) -> int:
    from podium.localhost.engine import logcontext
    from podium.localhost.engine.store import StoreLocked
    from podium.localhost.host import HostStartError, LocalHost, StoreUnavailable
    from podium.localhost.settings import KEYS_FILE, SettingsError

    logcontext.install()
    handler = logging.StreamHandler()
    handler.addFilter(_dash_outside_invocations)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(function_name)s %(invocation_id)s] %(message)s"))
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        handlers=[handler])
    try:
        host = LocalHost(Path(args.app_dir), port=args.port, data_dir=args.data_dir,
                         bind=args.bind)
        host.start()
    except StoreLocked as exc:  # another host runs on this task hub: a runtime failure
        raise CliError(f"{exc} (stop it first, or use another --data-dir / task hub)",
                       EXIT_FAILURE) from None
    except (SettingsError, HostStartError) as exc:
        runtime = isinstance(exc, StoreUnavailable) or "could not serve" in str(exc)
        raise CliError(str(exc), EXIT_FAILURE if runtime else EXIT_USAGE) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    s = host.settings
    print(f"Podium local host: app {s.app_dir}, task hub {s.hub_name}, data {s.data_dir}")
    print("Functions:")
    for name, methods, url in host.http_urls():
        print(f"  {name}: [{methods}] {url}")
    for info in host.functions:
        if info.trigger_type != "httpTrigger":
            print(f"  {info.name}: {info.trigger_type}")
    print(f"Durable HTTP API: {host.base_url}{API}/ (keys: PODIUM_*_KEY settings or "
          f"{s.data_dir / KEYS_FILE})")
    print("Press Ctrl+C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        host.stop()
    return EXIT_OK


HANDLERS = {
    "host": cmd_host,
    "start": cmd_start,
    "status": cmd_status,
    "raise": cmd_raise,
    "instances": cmd_instances,
    "terminate": cmd_terminate,
    "purge": cmd_purge,
    "send": cmd_send,
    "deadletters": cmd_deadletters,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    handler = getattr(args, "handler", None) or HANDLERS[args.command]
    try:
        return int(handler(args) or 0)
    except CliError as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
