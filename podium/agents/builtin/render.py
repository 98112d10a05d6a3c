"""Jinja2 rendering of the template trees under ``podium/agents/templates``.

Why StrictUndefined: a template that names a variable the agent did not provide must fail the
task loudly, not silently render an empty string into generated code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from pprint import pformat
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from podium.agents.context import AgentContext

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


def _py(value: Any) -> str:
    """A Python literal for generated code (True/False/None, not JSON's true/false/null)."""
    return pformat(value, width=88, sort_dicts=False)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    env.filters["py"] = _py
    return env


def template_files(tree: str) -> list[str]:
    """Template names under ``tree`` (e.g. "service"), relative to the templates dir."""
    root = TEMPLATES_DIR / tree
    return sorted(p.relative_to(TEMPLATES_DIR).as_posix() for p in root.rglob("*.j2"))


def render(name: str, **variables: Any) -> str:
    return environment().get_template(name).render(**variables)


def render_tree(ctx: AgentContext, tree: str, target: str, **variables: Any) -> list[str]:
    """Render every template of ``tree`` into workspace dir ``target``; returns the paths."""
    written = []
    for name in template_files(tree):
        relative = name[len(tree) + 1:-len(".j2")]
        path = f"{target}/{relative}"
        ctx.write_text(path, render(name, **variables))
        written.append(path)
    return written
