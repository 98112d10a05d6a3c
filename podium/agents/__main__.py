"""Run agent workers as their own process.

    python -m podium.agents --agents all --transport stdio
    python -m podium.agents --agents planner-agent,qa-agent --transport mypkg.bus:make_transport

``--transport`` is ``stdio`` (tasks as JSON lines on stdin, results on stdout) or
``module:factory``, a callable ``factory(agent_ids: list[str]) -> Transport`` supplied by the
host (the local host's embedded broker or Service Bus binding). SIGINT/SIGTERM stop receiving,
let running tasks answer, then exit 0.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from podium.agents.registry import builtin_workers
from podium.agents.transport import JsonLinesTransport, Transport, run_workers


def load_transport(spec: str, agent_ids: list[str]) -> tuple[Transport, threading.Event | None]:
    """The transport named by ``spec`` and, for finite streams, its end-of-input event."""
    if spec == "stdio":
        transport = JsonLinesTransport()
        return transport, transport.closed
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"--transport must be 'stdio' or 'module:factory', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    transport = factory(agent_ids)
    if not isinstance(transport, Transport):
        raise SystemExit(f"{spec} did not return a Transport (receive/complete/dead_letter/send)")
    return transport, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m podium.agents", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="all",
                        help="comma-separated agent ids, or 'all' (default)")
    parser.add_argument("--transport", default="stdio", help="'stdio' or 'module:factory'")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks run in parallel")
    parser.add_argument("--memo", default=None,
                        help="SQLite file remembering answered tasks across restarts")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    workers = builtin_workers(memo_path=args.memo)  # a model only if PODIUM_LLM_BASE_URL is set
    if args.agents != "all":
        wanted = [a.strip() for a in args.agents.split(",") if a.strip()]
        unknown = sorted(set(wanted) - set(workers))
        if unknown:
            parser.error(f"unknown agents: {', '.join(unknown)} (known: {', '.join(workers)})")
        workers = {a: workers[a] for a in wanted}
    transport, closed = load_transport(args.transport, list(workers))

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logging.getLogger("podium.agents").info("signal %s: draining and stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    handled = run_workers(workers, transport, stop, concurrency=args.concurrency,
                          stop_when_closed=closed)
    logging.getLogger("podium.agents").info("stopped after %d messages", handled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
