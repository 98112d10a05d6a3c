// Small helpers shared by every view: escaping, formatting, statuses and phases.

export const PHASES = [
  "Initialization", "Planning", "Assembly", "Security", "Validation",
  "Pipeline", "Deployment", "Observability", "DeliveryComplete",
];

// "PlanningPhase" and "Planning" are the same phase (the seed uses both spellings).
export function phaseName(value) {
  if (!value) return "";
  const s = String(value);
  return s.endsWith("Phase") ? s.slice(0, -5) : s;
}

export function phaseIndex(value) {
  return PHASES.indexOf(phaseName(value));
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

// Task status -> one of the visual classes (domain statuses first, tolerant of synonyms).
const STATUS_CLASS = {
  pending: "pending", ready: "ready", inprogress: "running", running: "running",
  scheduled: "running", dispatched: "running", acknowledged: "running",
  completed: "completed", complete: "completed", succeeded: "completed", success: "completed",
  done: "completed", delivered: "completed", answered: "completed", approved: "completed",
  failed: "failed", error: "failed", rejected: "failed", terminated: "failed",
  stalled: "stalled", timedout: "stalled", skipped: "skipped", waiting: "waiting",
  waitingforhuman: "waiting", awaitinghuman: "waiting", blocked: "waiting",
};

export function statusClass(status) {
  const key = String(status ?? "").toLowerCase().replace(/[^a-z]/g, "");
  return STATUS_CLASS[key] || "unknown";
}

export function isPendingHumanTask(task) {
  return ["pending", "requested", "open", "waiting", ""].includes(
    String(task.status ?? "").toLowerCase());
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "—";
  const v = Number(ms);
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(1)} s`;
  const m = Math.floor(v / 60000);
  const s = Math.round((v % 60000) / 1000);
  return m < 60 ? `${m} m ${s} s` : `${Math.floor(m / 60)} h ${m % 60} m`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function badge(status) {
  return `<span class="badge st-${statusClass(status)}">${esc(status || "unknown")}</span>`;
}

// Progress as a percentage from what the API may send: a fraction (0..1), a percentage
// (0..100), or an object ({percent} or {completed, totalTasks}, possibly under executionStatus).
export function percent(value) {
  let v = value;
  if (v && typeof v === "object") {
    if (v.executionStatus && typeof v.executionStatus === "object") {
      // the graph's own counts: skipped tasks are finished too (they satisfy dependents)
      const e = v.executionStatus;
      v = { completed: Number(e.completed || 0) + Number(e.skipped || 0), totalTasks: e.totalTasks };
    }
    if (v.percent !== undefined) v = Number(v.percent);
    else if (v.totalTasks) v = Number(v.completed || 0) / Number(v.totalTasks);
    else v = 0;
  }
  v = Number(v || 0);
  if (!Number.isFinite(v)) return 0;
  return Math.max(0, Math.min(100, Math.round(v <= 1 ? v * 100 : v)));
}

export function progressBar(value, label) {
  const pct = percent(value);
  return `<progress max="100" value="${pct}" aria-label="${esc(label || "progress")}">${pct}%</progress>`
    + ` <span class="pct">${pct}%</span>`;
}

// Secret-looking keys whose value is not a vault reference are masked, as a second line of
// defence: the API is meant to send "@vault:..." references only.
const SECRET_KEY = /(password|passwd|secret|token|apikey|api_key|connectionstring|credential|privatekey)/i;

export function isVaultRef(value) {
  return typeof value === "string" && value.startsWith("@vault:");
}

export function renderJson(value, key = null, depth = 0) {
  const pad = "  ".repeat(depth);
  if (value === null || value === undefined) return `<span class="j-null">null</span>`;
  if (typeof value === "string") {
    if (isVaultRef(value)) {
      return `<span class="vault-ref" title="Secret reference: the value is never shown">`
        + `<span class="vault-tag">vault</span> ${esc(value)}</span>`;
    }
    if (key && SECRET_KEY.test(key)) {
      return `<span class="masked" title="Hidden by Studio: looks like a secret">••••• (hidden)</span>`;
    }
    return `<span class="j-str">"${esc(value)}"</span>`;
  }
  if (typeof value === "number" || typeof value === "boolean") {
    return `<span class="j-num">${esc(value)}</span>`;
  }
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    const items = value.map((v) => `${pad}  ${renderJson(v, key, depth + 1)}`);
    return `[\n${items.join(",\n")}\n${pad}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  const items = entries.map(
    ([k, v]) => `${pad}  <span class="j-key">"${esc(k)}"</span>: ${renderJson(v, k, depth + 1)}`);
  return `{\n${items.join(",\n")}\n${pad}}`;
}

// Replace a container's HTML, keeping keyboard focus and text selection on the element with
// the same id (polling re-renders must not steal focus from the user).
export function morph(container, html) {
  if (container.__html === html) return false;
  const active = document.activeElement;
  const id = active && container.contains(active) ? active.id : null;
  const typing = active && (active.tagName === "TEXTAREA"
    || (active.tagName === "INPUT" && /^(text|search|url|email|tel|password)?$/.test(active.type)));
  const sel = id && typing ? [active.selectionStart, active.selectionEnd, active.value] : null;
  container.innerHTML = html;
  container.__html = html;
  if (id) {
    const again = document.getElementById(id);
    if (again) {
      if (sel && "value" in again) {
        again.value = sel[2];
        again.setSelectionRange?.(sel[0], sel[1]);
      }
      again.focus({ preventScroll: true });
    }
  }
  return true;
}

// Links from API data: same-origin paths and http(s) only (never javascript: or data:).
export function safeUrl(value) {
  const s = String(value ?? "");
  try {
    const u = new URL(s, window.location.href);
    if (u.protocol === "http:" || u.protocol === "https:") return s;
  } catch { /* fall through */ }
  return "#";
}

export function shortId(value, n = 8) {
  const s = String(value ?? "");
  return s.length > n + 1 ? `${s.slice(0, n)}…` : s;
}
