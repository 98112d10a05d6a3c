"""Validate the flow definitions: ``python -m podium.domain [DIR]`` (default: repo ``flows/``)."""

from __future__ import annotations

from .errors import DomainError
from .flows import load_catalog


def main(argv: list[str] | None = None) -> int:
    """``python -m podium.domain [DIR]``: validate a flow directory and print a summary.

    Exit code 0 when every file is valid, 1 (with the error on stderr) otherwise, so flow
    authors and CI can check YAML edits without starting anything.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    directory = args[0] if args else None
    try:
        catalog = load_catalog(directory)
    except DomainError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    for flow in sorted(catalog.flows.values(), key=lambda f: f.phase.index):
        graph = flow.build_graph(
            {n: f"<{n}>" for n in flow.parameters}, project_id="<projectId>", tenant_id="<tenantId>"
        )
        humans = sum(1 for t in flow.tasks if t.human)
        print(
            f"{flow.name:<28} {flow.phase.value:<17} tasks={len(flow.tasks):<3} "
            f"depth={graph.depth():<3} human={humans}"
        )
    rules = catalog.lifecycle.transitions
    routes = sum(len(r) for r in catalog.routing.routes.values())
    print(f"lifecycle rules={len(rules)}  routes={routes} for {len(catalog.routing.routes)} events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
