// Metrics dashboard: the app's own /api/metrics (Prometheus text) summarised for people.

import { api } from "../api.js";
import { PHASES, esc, fmtDuration, morph, phaseName } from "../util.js";

// name -> [{labels, value}] from the Prometheus text exposition format.
export function parsePrometheus(body) {
  const out = new Map();
  for (const line of body.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k] = v.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

const sum = (samples) => (samples || []).reduce((a, s) => a + (Number.isFinite(s.value) ? s.value : 0), 0);
const fmtNum = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const pct = (v) => `${Math.round(v * 1000) / 10}%`;

function mean(m, name) {
  const total = sum(m.get(`${name}_sum`));
  const count = sum(m.get(`${name}_count`));
  return count ? total / count : null;
}

function card(title, rows) {
  return `<section class="mcard" aria-label="${esc(title)}"><h2>${esc(title)}</h2><dl class="kv">${rows
    .map(([k, v, id]) => `<dt>${esc(k)}</dt><dd${id ? ` id="m-${esc(id)}"` : ""}>${v}</dd>`).join("")}</dl></section>`;
}

function byLabel(samples, label, format) {
  if (!samples || !samples.length) return `<span class="empty">no data yet</span>`;
  return `<table class="grid mini"><tbody>${samples
    .slice().sort((a, b) => String(a.labels[label]).localeCompare(String(b.labels[label])))
    .map((s) => `<tr><th scope="row">${esc(s.labels[label] ?? "—")}</th><td>${esc(format(s.value))}</td></tr>`)
    .join("")}</tbody></table>`;
}

export function mount(container, ctx) {
  container.innerHTML = `<section aria-labelledby="m-h"><h1 id="m-h">Metrics</h1>
    <p class="hint">Live values of this app instance's metrics, named as in the seed.
      <a href="../metrics" id="m-raw">Raw Prometheus text</a></p><div id="m-body" class="mgrid"></div></section>`;
  const body = container.querySelector("#m-body");

  async function refresh() {
    let m;
    try {
      m = parsePrometheus(await api.metricsText());
    } catch (err) {
      if (err.status >= 400 && err.status < 500) {
        morph(body, `<p class="msg msg-error" role="alert">Metrics refused (${esc(err.status)}): ${esc(err.message)}</p>`);
        return;
      }
      throw err;
    }
    const phases = m.get("active_phase_distribution") || [];
    const maxPhase = Math.max(1, ...phases.map((s) => s.value));
    const phaseRows = PHASES.map((p) => {
      const v = sum(phases.filter((s) => phaseName(s.labels.phase) === p));
      return `<tr><th scope="row">${esc(p)}</th><td><meter min="0" max="${maxPhase}" value="${v}"
        aria-label="${esc(p)}: ${v} projects"></meter> <span id="m-phase-${esc(p)}">${v}</span></td></tr>`;
    }).join("");
    const latency = mean(m, "agent_task_latency_ms");
    const vault = mean(m, "vault_latency_ms");
    const delivery = mean(m, "project_delivery_duration_ms");
    morph(body, [
      card("Orchestrations", [
        ["started", fmtNum(sum(m.get("orchestrations_started_total"))), "started"],
        ["active now", fmtNum(sum(m.get("orchestration_active_total"))), "active"],
        ["triggered by events", fmtNum(sum(m.get("orchestration_triggers"))), "triggers"],
        ["manual starts", fmtNum(sum(m.get("manual_triggered_total")))],
        ["errors", fmtNum(sum(m.get("orchestration_errors_total")))],
        ["events rejected", fmtNum(sum(m.get("event_rejected_total"))), "rejected"],
      ]),
      card("Agent tasks", [
        ["triggered", fmtNum(sum(m.get("agent_tasks_triggered_total"))), "triggered"],
        ["mean latency", latency === null ? "—" : esc(fmtDuration(latency)), "latency"],
        ["retries", fmtNum(sum(m.get("agent_task_retry_count")))],
        ["timeouts", fmtNum(sum(m.get("task_timeout_count")))],
        ["failures", fmtNum(sum(m.get("task_failures_total")))],
        ["running in parallel", fmtNum(sum(m.get("tasks_executed_in_parallel")))],
        ["success rate by agent", byLabel(m.get("agent_task_success_rate"), "agent_id", pct)],
      ]),
      card("Human tasks", [
        ["requested", fmtNum(sum(m.get("human_tasks_requested_total"))), "human-requested"],
        ["mean response time", (m.get("human_task_avg_response_time") || []).length
          ? esc(fmtDuration(m.get("human_task_avg_response_time")[0].value)) : "—", "human-response"],
        ["approval rate by role", byLabel(m.get("approval_rate_by_role"), "role", pct)],
      ]),
      `<section class="mcard" aria-label="Projects by phase"><h2>Projects by phase</h2>
        <table class="grid mini"><tbody>${phaseRows}</tbody></table>
        <h3>Mean time per phase</h3>${byLabel(m.get("avg_time_per_phase"), "phase", fmtDuration)}</section>`,
      card("Delivery and secrets", [
        ["delivered", fmtNum(sum(m.get("project_delivery_duration_ms_count")))],
        ["mean delivery time", delivery === null ? "—" : esc(fmtDuration(delivery))],
        ["artifacts", fmtNum(sum(m.get("delivery_artifacts_count")))],
        ["secrets resolved", fmtNum(sum(m.get("secrets_requested_total"))), "secrets"],
        ["mean vault latency", vault === null ? "—" : esc(fmtDuration(vault))],
        ["tasks blocked by phase", fmtNum(sum(m.get("blocked_tasks_due_to_phase")))],
      ]),
    ].join(""));
  }
  return { refresh, unmount() {} };
}
