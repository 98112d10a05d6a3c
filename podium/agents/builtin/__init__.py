"""Built-in deterministic agents: each module registers its handlers on the workers it owns.

See ``podium.agents.registry.builtin_workers`` for the assembled set and docs/agents.md for
every task type, its inputs and the files it writes.
"""
