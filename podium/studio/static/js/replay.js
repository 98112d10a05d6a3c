// Graph replay: rebuild a past run's graph states from the audit/event log.
//
// Each audit record with a taskId of the graph is one step. The task's status after the step is
// details.status when the record carries it, else derived from the record type
// (e.g. AgentTaskScheduled -> InProgress, AgentTaskCompleted -> Completed).

const TYPE_RULES = [
  [/(skip)/i, "Skipped"],
  [/(stall|timedout|timeout)/i, "Stalled"],
  [/(fail|reject|error|abort)/i, "Failed"],
  [/(complet|succe|approv|responsereceived|answered|done)/i, "Completed"],
  [/(ready|unblock)/i, "Ready"],
  [/(schedul|start|dispatch|acknowledg|retr|request|progress|running|assign)/i, "InProgress"],
];

export function statusFromRecord(record) {
  const d = record.details || {};
  if (d.status) return String(d.status);
  const text = `${record.type || ""} ${record.action || ""}`;
  for (const [re, status] of TYPE_RULES) if (re.test(record.type || "")) return status;
  for (const [re, status] of TYPE_RULES) if (re.test(text)) return status;
  return null;
}

export function buildReplay(nodes, records) {
  const ids = new Set(nodes.map((n) => n.taskId));
  const steps = records
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.taskId && ids.has(r.taskId) && statusFromRecord(r))
    .sort((a, b) => String(a.r.timestamp).localeCompare(String(b.r.timestamp)) || a.i - b.i)
    .map(({ r }) => r);
  const initial = nodes.map((n) => ({
    ...n, status: "Pending", attempts: 0, startedAt: null, completedAt: null, durationMs: null,
  }));
  const states = [initial];
  let current = initial;
  for (const r of steps) {
    const status = statusFromRecord(r);
    current = current.map((n) => {
      if (n.taskId !== r.taskId) return n;
      const next = { ...n, status };
      const d = r.details || {};
      if (d.attempts !== undefined || d.attempt !== undefined) next.attempts = d.attempts ?? d.attempt;
      else if (status === "InProgress" && n.status !== "InProgress") next.attempts = (n.attempts || 0) + 1;
      if (status === "InProgress" && !n.startedAt) next.startedAt = r.timestamp;
      if (["Completed", "Failed", "Skipped"].includes(status)) {
        next.completedAt = r.timestamp;
        const start = Date.parse(next.startedAt || "");
        const end = Date.parse(r.timestamp || "");
        next.durationMs = d.durationMs ?? (Number.isNaN(start) || Number.isNaN(end) ? null : end - start);
      }
      return next;
    });
    states.push(current);
  }
  return { steps, states };
}
