"""Durable activities: every side effect of the orchestrations (persist graph snapshots and the
audit trail, publish events and agent tasks, human tasks, delivery). Activities run at least
once, so each one is idempotent: ids are deterministic and writes are upserts or
create-if-absent."""

import azure.durable_functions as df

bp = df.Blueprint()

from activities import delivery, dispatch, flows, human  # noqa: E402,F401  (registers on bp)
