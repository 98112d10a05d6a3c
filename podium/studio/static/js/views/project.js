// One project: header, human task inbox, phase timeline, live DAG (with replay), task detail,
// delivery summary and audit trail. Polled every POLL_MS; each part re-renders only when its
// own HTML changes, so focus and typing survive the polling.

import { api } from "../api.js";
import { renderDag, renderLegend } from "../dag.js";
import { buildReplay } from "../replay.js";
import {
  PHASES, badge, esc, fmtDuration, fmtTime, isPendingHumanTask, morph, percent, phaseName,
  progressBar, renderJson, safeUrl, shortId,
} from "../util.js";

const RESPONSES = { approve: "Approve", approved: "Approve", reject: "Reject", rejected: "Reject",
  edit: "Edit", modify: "Edit" };

function errorText(error) {
  const message = String(error.message || JSON.stringify(error));
  return error.code && !message.startsWith(error.code) ? `${error.code}: ${message}` : message;
}

export function mount(container, ctx, projectId) {
  const s = {
    data: null, flowId: null, taskId: null, openPhase: null, replay: null, phaseMessage: null,
    editing: {}, messages: {}, audit: { filters: { traceId: "", taskId: "", agentId: "", type: "" },
      records: null, error: null, loadedFor: null, at: 0 },
  };
  container.innerHTML = `
    <div class="project">
      <div id="p-header"><p>Loading project ${esc(projectId)}…</p></div>
      <section id="p-inbox-sec" aria-labelledby="inbox-h"><h2 id="inbox-h">Human task inbox</h2>
        <div id="p-inbox"></div></section>
      <div class="p-grid">
        <section class="p-timeline" aria-labelledby="tl-h"><h2 id="tl-h">Lifecycle</h2>
          <div id="p-timeline"></div></section>
        <section class="p-graph" aria-labelledby="g-h"><h2 id="g-h">Execution graph</h2>
          <div id="p-tabs"></div><div id="p-replay"></div>
          <div id="p-dag" class="dag-wrap" role="tabpanel"></div><div id="p-legend">${renderLegend()}</div></section>
        <aside class="p-detail" aria-labelledby="d-h"><h2 id="d-h">Task detail</h2>
          <div id="p-detail"></div></aside>
      </div>
      <section aria-labelledby="dl-h"><h2 id="dl-h">Delivery summary</h2><div id="p-delivery"></div></section>
      <section aria-labelledby="au-h"><h2 id="au-h">Audit trail</h2>
        <form id="audit-form" class="filters" aria-label="Filter audit trail">
          <label>traceId <input id="af-traceId" name="traceId" autocomplete="off"></label>
          <label>task <input id="af-taskId" name="taskId" autocomplete="off"></label>
          <label>agent <input id="af-agentId" name="agentId" autocomplete="off"></label>
          <label>type <input id="af-type" name="type" autocomplete="off"></label>
          <button type="submit" id="af-apply">Apply</button>
          <button type="button" id="af-clear" data-action="audit-clear">Clear</button>
        </form>
        <div id="p-audit" aria-live="polite"></div></section>
    </div>`;
  const $ = (id) => container.querySelector(`#${id}`);

  // ---- data helpers -------------------------------------------------------------------
  const graphs = () => (s.data?.graphs || []);
  const graph = () => graphs().find((g) => g.flowId === s.flowId) || null;
  const shownNodes = () => {
    if (s.replay && s.replay.flowId === s.flowId) return s.replay.states[s.replay.index];
    return graph()?.nodes || [];
  };

  function pickDefaultFlow() {
    if (s.flowId && graphs().some((g) => g.flowId === s.flowId)) return;
    const live = graphs().find((g) => /running|inprogress|pending/i.test(g.status || ""));
    s.flowId = (live || graphs()[graphs().length - 1] || {}).flowId || null;
  }

  // ---- renderers ----------------------------------------------------------------------
  function renderHeader() {
    const d = s.data;
    const lock = d.locked ? `<p class="banner locked" role="note"><strong>Read-only.</strong> This project is
      delivered: answers and edits are disabled, artifacts stay downloadable.</p>` : "";
    const delivered = d.delivery ? `<p class="banner delivered" role="status">Project ${esc(d.name || d.projectId)}
      delivered successfully ${esc(fmtTime(d.delivery.completedAt))}.
      <button type="button" class="linkish" data-action="goto-delivery">Delivery summary</button></p>` : "";
    morph($("p-header"), `
      <nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Projects</a> / ${esc(d.name || d.projectId)}</nav>
      <h1>${esc(d.name || d.projectId)} ${badge(d.status)}</h1>
      <dl class="facts">
        <div><dt>Project</dt><dd>${esc(d.projectId)}</dd></div>
        <div><dt>Tenant</dt><dd>${esc(d.tenantId)}</dd></div>
        <div><dt>Phase</dt><dd id="current-phase">${esc(phaseName(d.phase))}</dd></div>
        <div><dt>traceId</dt><dd><button type="button" class="linkish" data-action="audit-filter"
          data-key="traceId" data-value="${esc(d.traceId || "")}" title="Show this trace in the audit trail">${esc(d.traceId || "—")}</button></dd></div>
      </dl>${delivered}${lock}`);
  }

  function answerButtons(t, reason) {
    const options = (t.options && t.options.length ? t.options : ["Approve", "Reject", "Edit"])
      .map((o) => RESPONSES[String(o).toLowerCase()] || o);
    const uniq = [...new Set(options)];
    const rid = `reason-${t.taskId}`;
    const dis = reason ? ` disabled aria-describedby="${esc(rid)}" title="${esc(reason)}"` : "";
    return uniq.map((o) => `<button type="button" class="btn btn-${esc(o.toLowerCase())}" id="btn-${esc(o.toLowerCase())}-${esc(t.taskId)}"
        data-action="${o === "Edit" ? "edit-open" : "answer"}" data-task="${esc(t.taskId)}" data-response="${esc(o)}"
        aria-label="${esc(o)}: ${esc(t.title)}"${dis}>${esc(o)}</button>`).join(" ")
      + (reason ? `<p class="reason" id="${esc(rid)}"><strong>Not allowed:</strong> ${esc(reason)}</p>` : "");
  }

  function renderInbox() {
    const tasks = s.data.humanTasks || [];
    const pending = tasks.filter(isPendingHumanTask);
    const done = tasks.filter((t) => !isPendingHumanTask(t));
    const roles = ctx.me.roles.length ? ctx.me.roles.join(", ") : "no roles";
    const card = (t) => {
      let reason = "";
      if (s.data.locked) reason = "Project is locked (delivered, read-only).";
      else if (!ctx.me.userId) reason = "You are not signed in.";
      else if (!ctx.hasRole(t.requiredRole)) reason = `Requires role ${t.requiredRole}; you have ${roles}.`;
      const msg = s.messages[t.taskId];
      const editing = s.editing[t.taskId] !== undefined;
      return `<article class="htask" data-human-task="${esc(t.taskId)}" aria-labelledby="ht-${esc(t.taskId)}">
        <h3 id="ht-${esc(t.taskId)}">${esc(t.title)}</h3>
        <p>${esc(t.description || "")}</p>
        <p class="sub">Task ${esc(t.graphTaskId || t.taskId)} · flow ${esc(t.flow || t.flowId || "—")} · needs role <strong>${esc(t.requiredRole || "any")}</strong>
          · requested ${esc(fmtTime(t.requestedAt))}${t.expiresAt ? ` · expires ${esc(fmtTime(t.expiresAt))}` : ""}</p>
        <div class="actions">${answerButtons(t, reason)}</div>
        ${editing && !reason ? `<div class="editor">
          <label for="edit-${esc(t.taskId)}">Edited response (JSON object, or plain text)</label>
          <textarea id="edit-${esc(t.taskId)}" rows="5" spellcheck="false">${esc(s.editing[t.taskId])}</textarea>
          <button type="button" class="btn btn-edit" id="edit-submit-${esc(t.taskId)}" data-action="edit-submit" data-task="${esc(t.taskId)}">Submit edit</button>
          <button type="button" class="btn" data-action="edit-cancel" data-task="${esc(t.taskId)}">Cancel</button></div>` : ""}
        ${msg ? `<p class="msg msg-${esc(msg.kind)}" role="${msg.kind === "error" ? "alert" : "status"}">${esc(msg.text)}</p>` : ""}
      </article>`;
    };
    const answered = done.length ? `<details class="answered"><summary>${done.length} answered</summary><ul>
      ${done.map((t) => `<li data-human-task="${esc(t.taskId)}">${esc(t.title)}: ${badge(t.status)}
        ${t.response ? esc(t.response.response || JSON.stringify(t.response)) : ""}
        ${t.response?.submittedBy ? `by ${esc(t.response.submittedBy)}` : ""}
        ${s.messages[t.taskId] ? `<span class="msg msg-${esc(s.messages[t.taskId].kind)}" role="status">${esc(s.messages[t.taskId].text)}</span>` : ""}</li>`).join("")}
      </ul></details>` : "";
    $("inbox-h").textContent = `Human task inbox (${pending.length} pending)`;
    morph($("p-inbox"), (pending.length ? pending.map(card).join("") : `<p class="empty">No approvals waiting.</p>`) + answered);
  }

  function renderTimeline() {
    const timeline = (s.data.phaseTimeline && s.data.phaseTimeline.length ? s.data.phaseTimeline
      : PHASES.map((p) => ({ phase: p, state: "future", enteredAt: null, flows: [] })));
    morph($("p-timeline"), `<ol class="timeline">${timeline.map((ph) => {
      const name = phaseName(ph.phase);
      const open = s.openPhase === name;
      const flows = ph.flows || [];
      const mark = ph.state === "done" ? "&#10003;" : ph.state === "current" ? "&#9679;" : "&#9675;";
      return `<li class="ph ph-${esc(ph.state)}" data-phase="${esc(name)}"${ph.state === "current" ? ' aria-current="step"' : ""}>
        <button type="button" id="ph-${esc(name)}" data-action="phase" data-phase="${esc(name)}" aria-expanded="${open}"
          aria-controls="phf-${esc(name)}"><span class="mark" aria-hidden="true">${mark}</span>
          <span class="ph-name">${esc(name)}</span><span class="visually-hidden">, ${esc(ph.state)}</span>
          <span class="ph-when">${ph.enteredAt ? esc(fmtTime(ph.enteredAt)) : ""}</span></button>
        ${ph.state === "current" && !s.data.locked ? `<div class="ph-action">
          <button type="button" class="btn btn-small" id="mark-phase-complete" data-action="mark-phase"
            aria-describedby="mark-phase-msg">Mark ${esc(name)} complete</button>
          ${s.phaseMessage ? `<p id="mark-phase-msg" class="msg msg-${esc(s.phaseMessage.kind)}" role="${s.phaseMessage.kind === "error" ? "alert" : "status"}">${esc(s.phaseMessage.text)}</p>` : ""}</div>` : ""}
        <ul class="ph-flows" id="phf-${esc(name)}"${open ? "" : " hidden"}>
          ${flows.length ? flows.map((f) => `<li><button type="button" class="linkish" data-action="flow" data-flow-id="${esc(f.flowId)}">
            ${esc(f.name || f.flowId)}${f.key ? ` <span class="sub">${esc(f.key)}</span>` : ""}</button> ${badge(f.status)}</li>`).join("") : `<li class="empty">No flows in this phase.</li>`}
        </ul></li>`;
    }).join("")}</ol>`);
  }

  function renderGraph() {
    const list = graphs();
    morph($("p-tabs"), list.length ? `<div role="tablist" aria-label="Flows" class="tabs">${list.map((g) => `
      <button type="button" role="tab" id="tab-${esc(g.flowId)}" aria-selected="${g.flowId === s.flowId}"
        aria-controls="p-dag" tabindex="${g.flowId === s.flowId ? 0 : -1}" data-action="flow" data-flow-id="${esc(g.flowId)}">${esc(g.name || g.flowId)}${g.key ? ` <span class="sub">${esc(g.key)}</span>` : ""} ${badge(g.status)}
        <span class="pct">${percent(g.progress)}%</span></button>`).join("")}</div>`
      : `<p class="empty">No flows have started yet.</p>`);
    const g = graph();
    const r = s.replay && s.replay.flowId === s.flowId ? s.replay : null;
    let bar = "";
    if (g && !r) {
      bar = `<div class="replaybar"><button type="button" id="replay-start" data-action="replay-start">&#9654; Replay this run</button>
        <span class="sub">instance ${esc(g.instanceId || "—")} · progress</span> ${progressBar(g.progress, `progress of ${g.name || g.flowId}`)}</div>`;
    } else if (r) {
      const step = r.index ? r.steps[r.index - 1] : null;
      bar = `<div class="replaybar replaying" role="group" aria-label="Replay controls">
        <strong>Replay</strong> <span class="sub">(live updates paused)</span>
        <button type="button" id="replay-first" data-action="replay-step" data-to="0" aria-label="First step">|&#9664;</button>
        <button type="button" id="replay-prev" data-action="replay-step" data-delta="-1" aria-label="Previous step">&#9664;</button>
        <input type="range" id="replay-range" min="0" max="${r.states.length - 1}" value="${r.index}" aria-label="Replay step">
        <button type="button" id="replay-next" data-action="replay-step" data-delta="1" aria-label="Next step">&#9654;</button>
        <button type="button" id="replay-last" data-action="replay-step" data-to="${r.states.length - 1}" aria-label="Last step">&#9654;|</button>
        <button type="button" id="replay-play" data-action="replay-play" aria-pressed="${Boolean(r.timer)}">${r.timer ? "Pause" : "Play"}</button>
        <button type="button" id="replay-exit" data-action="replay-exit">Back to live</button>
        <p id="replay-status" class="sub" aria-live="polite">Step ${r.index} of ${r.states.length - 1}${step
          ? `: ${esc(fmtTime(step.timestamp))} · ${esc(step.type)} · ${esc(step.taskId)} · ${esc(step.actor || "")} ${esc(step.action || "")}` : ": before the run started"}</p></div>`;
    }
    morph($("p-replay"), bar);
    $("p-dag").setAttribute("aria-labelledby", g ? `tab-${g.flowId}` : "g-h");
    morph($("p-dag"), g ? renderDag(shownNodes(), s.taskId) : "");
  }

  function renderDetail() {
    const n = shownNodes().find((x) => x.taskId === s.taskId);
    if (!n) {
      morph($("p-detail"), `<p class="empty">Select a task in the graph (click, or Tab to it and press Enter).</p>`);
      return;
    }
    morph($("p-detail"), `
      <h3 id="detail-title">${esc(n.taskId)} ${badge(n.status)}</h3>
      <dl class="kv">
        <dt>Type</dt><dd>${esc(n.type)}</dd>
        <dt>Agent</dt><dd>${esc(n.agentId || "—")}</dd>
        <dt>Attempts</dt><dd>${esc(n.attempts ?? 0)}</dd>
        <dt>Depends on</dt><dd>${(n.dependsOn || []).map(esc).join(", ") || "—"}</dd>
        <dt>Started</dt><dd>${esc(fmtTime(n.startedAt))}</dd>
        <dt>Completed</dt><dd>${esc(fmtTime(n.completedAt))}</dd>
        <dt>Duration</dt><dd>${esc(fmtDuration(n.durationMs))}</dd>
        <dt>Optional</dt><dd>${n.optional ? "yes" : "no"}</dd>
        ${n.human ? `<dt>Human task</dt><dd>${esc(n.human.title)} (role ${esc(n.human.requiredRole)})</dd>` : ""}
        ${n.error ? `<dt>Error</dt><dd class="error-text">${esc(errorText(n.error))}</dd>` : ""}
      </dl>
      <h4>Inputs</h4><pre class="json" id="detail-inputs">${renderJson(n.inputs ?? {})}</pre>
      <h4>Outputs</h4><pre class="json" id="detail-outputs">${renderJson(n.outputs ?? {})}</pre>
      <p class="sub">Secrets appear only as <code>@vault:</code> references; values never reach Studio.</p>
      <button type="button" class="linkish" data-action="audit-filter" data-key="taskId" data-value="${esc(n.taskId)}">Show this task in the audit trail</button>`);
  }

  function renderDelivery() {
    const d = s.data.delivery;
    if (!d) {
      morph($("p-delivery"), `<p class="empty">Not delivered yet (current phase: ${esc(phaseName(s.data.phase))}).</p>`);
      return;
    }
    const summary = Object.entries(d.summary || {});
    morph($("p-delivery"), `
      <p>Completed ${esc(fmtTime(d.completedAt))}.${d.export ? ` <a href="${esc(safeUrl(d.export))}" id="delivery-export"
        download>&#8595; Download everything (ZIP)</a>` : ""}</p>
      <h3>Artifacts</h3>
      ${(d.artifacts || []).length ? `<ul class="artifacts">${d.artifacts.map((a) => `<li>
        <a href="${esc(safeUrl(a.url))}" download="${esc(a.name)}">&#8595; ${esc(a.name)}</a></li>`).join("")}</ul>` : `<p class="empty">No artifacts.</p>`}
      ${summary.length ? `<table class="grid kvt"><tbody>${summary.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th>
        <td>${typeof v === "object" && v !== null ? `<pre class="json">${renderJson(v)}</pre>` : esc(v)}</td></tr>`).join("")}</tbody></table>` : ""}`);
  }

  function renderAudit() {
    const a = s.audit;
    const form = $("audit-form");
    Object.entries(a.filters).forEach(([k, v]) => {
      const input = form.elements[k];
      if (input && document.activeElement !== input) input.value = v;
    });
    if (a.error) { morph($("p-audit"), `<p class="msg msg-error" role="alert">${esc(a.error)}</p>`); return; }
    if (!a.records) { morph($("p-audit"), `<p class="empty">Loading…</p>`); return; }
    const cell = (key, value) => (value ? `<button type="button" class="linkish" data-action="audit-filter" data-key="${key}"
      data-value="${esc(value)}" title="Filter by ${key} ${esc(value)}">${esc(key === "traceId" ? shortId(value, 10) : value)}</button>` : "—");
    morph($("p-audit"), a.records.length ? `<table class="grid audit" id="audit-table">
      <thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Actor</th><th scope="col">Action</th>
        <th scope="col">Phase</th><th scope="col">Task</th><th scope="col">Agent</th><th scope="col">traceId</th><th scope="col">Details</th></tr></thead>
      <tbody>${a.records.map((r) => `<tr data-task-id="${esc(r.taskId || "")}" data-agent-id="${esc(r.agentId || "")}">
        <td class="nowrap">${esc(fmtTime(r.timestamp))}</td><td>${cell("type", r.type)}</td><td>${esc(r.actor)}</td>
        <td>${esc(r.action)}</td><td>${esc(phaseName(r.phase))}</td><td>${cell("taskId", r.taskId)}</td>
        <td>${cell("agentId", r.agentId)}</td><td>${cell("traceId", r.traceId)}</td>
        <td class="details">${r.details && Object.keys(r.details).length ? `<code>${esc(JSON.stringify(r.details))}</code>` : ""}</td></tr>`).join("")}
      </tbody></table><p class="sub">${a.records.length} records</p>` : `<p class="empty">No audit records match.</p>`);
  }

  function renderAll() {
    if (!s.data) return;
    pickDefaultFlow();
    renderHeader(); renderInbox(); renderTimeline(); renderGraph(); renderDetail(); renderDelivery(); renderAudit();
  }

  // ---- loading ------------------------------------------------------------------------
  async function loadAudit(force = false) {
    const key = JSON.stringify(s.audit.filters);
    const now = Date.now();
    if (!force && s.audit.loadedFor === key && now - s.audit.at < 4000) return;
    s.audit.at = now;
    try {
      const res = await api.audit(projectId, s.audit.filters);
      s.audit.records = res.records || [];
      s.audit.error = null;
      s.audit.loadedFor = key;
    } catch (err) {
      s.audit.error = `Cannot load the audit trail: ${err.message}`;
    }
    renderAudit();
  }

  async function refresh() {
    try {
      s.data = await api.project(projectId);
    } catch (err) {
      if (err.status === 404) {
        morph($("p-header"), `<p class="msg msg-error" role="alert">Project ${esc(projectId)} was not found.</p>`);
        return;
      }
      throw err;
    }
    renderAll();
    await loadAudit();
  }

  // ---- actions ------------------------------------------------------------------------
  async function answer(taskId, response, data) {
    const t = (s.data.humanTasks || []).find((x) => x.taskId === taskId);
    s.messages[taskId] = { kind: "info", text: `Sending ${response}…` };
    renderInbox();
    try {
      await api.answer(projectId, taskId, response, data);
      s.messages[taskId] = { kind: "ok", text: `${response} recorded.` };
      delete s.editing[taskId];
    } catch (err) {
      let text = `Could not send ${response}: ${err.message}`;
      if (err.status === 403) {
        text = `Refused by the server (403 Forbidden): ${err.message}. `
          + `This approval needs role ${t?.requiredRole || "?"}.`;
      } else if (err.status === 409) {
        text = `Already answered or expired (409 Conflict): ${err.message}`;
      }
      s.messages[taskId] = { kind: "error", text };
    }
    renderInbox();
    await refresh().catch(() => {});
  }

  async function markPhaseComplete() {
    const phase = phaseName(s.data.phase);
    s.phaseMessage = { kind: "info", text: `Asking to complete ${phase}…` };
    renderTimeline();
    try {
      await api.action(projectId, "mark-phase-complete", {});
      s.phaseMessage = { kind: "ok", text: `${phase} marked complete.` };
    } catch (err) {
      const why = err.status === 403 ? "Refused by the server (403 Forbidden)"
        : err.status === 409 ? "Not possible now (409 Conflict)" : `Failed (${err.status || "network"})`;
      s.phaseMessage = { kind: "error", text: `${why}: ${err.message}` };
    }
    renderTimeline();
    await refresh().catch(() => {});
  }

  function parseEdit(text) {
    const trimmed = text.trim();
    if (!trimmed) return {};
    try {
      const value = JSON.parse(trimmed);
      return value && typeof value === "object" && !Array.isArray(value) ? value : { value };
    } catch {
      return { text: trimmed };
    }
  }

  function stopReplayTimer() {
    if (s.replay?.timer) { clearInterval(s.replay.timer); s.replay.timer = null; }
  }

  async function startReplay() {
    const g = graph();
    if (!g) return;
    try {
      const res = await api.audit(projectId, {});
      const { steps, states } = buildReplay(g.nodes || [], res.records || []);
      s.replay = { flowId: g.flowId, steps, states, index: 0, timer: null };
    } catch (err) {
      s.audit.error = `Cannot replay: ${err.message}`;
    }
    renderGraph(); renderDetail();
    document.getElementById("replay-next")?.focus();
  }

  function stepTo(index) {
    const r = s.replay;
    if (!r) return;
    r.index = Math.max(0, Math.min(r.states.length - 1, index));
    if (r.index === r.states.length - 1) stopReplayTimer();
    renderGraph(); renderDetail();
  }

  function selectTask(taskId) {
    s.taskId = taskId;
    renderGraph(); renderDetail();
    // On a laptop screen the panel sits below the graph: bring it into view without a jump.
    $("d-h").closest("aside").scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  container.addEventListener("click", (e) => {
    const el = e.target.closest("[data-action], g.node");
    if (!el || el.disabled) return;
    if (el.matches("g.node")) { selectTask(el.dataset.taskId); return; }
    const { action } = el.dataset;
    const taskId = el.dataset.task;
    if (action === "answer") answer(taskId, el.dataset.response);
    else if (action === "edit-open") {
      const t = (s.data.humanTasks || []).find((x) => x.taskId === taskId);
      s.editing[taskId] = JSON.stringify(t?.response?.data || t?.proposal || {}, null, 2);
      renderInbox();
      document.getElementById(`edit-${taskId}`)?.focus();
    } else if (action === "edit-cancel") { delete s.editing[taskId]; renderInbox(); }
    else if (action === "edit-submit") {
      const text = document.getElementById(`edit-${taskId}`)?.value ?? "";
      s.editing[taskId] = text;
      answer(taskId, "Edit", parseEdit(text));
    } else if (action === "phase") {
      s.openPhase = s.openPhase === el.dataset.phase ? null : el.dataset.phase;
      renderTimeline();
    } else if (action === "flow") {
      s.flowId = el.dataset.flowId; s.taskId = null;
      renderGraph(); renderDetail();
      if (!graph()) morph($("p-dag"), `<p class="empty">Flow ${esc(s.flowId)} has no graph to show yet.</p>`);
    } else if (action === "audit-filter") {
      s.audit.filters = { traceId: "", taskId: "", agentId: "", type: "", [el.dataset.key]: el.dataset.value };
      loadAudit(true);
      $("au-h").scrollIntoView({ block: "start" });
    } else if (action === "audit-clear") {
      s.audit.filters = { traceId: "", taskId: "", agentId: "", type: "" };
      Object.keys(s.audit.filters).forEach((k) => { $("audit-form").elements[k].value = ""; });
      loadAudit(true);
    } else if (action === "mark-phase") {
      markPhaseComplete();
    } else if (action === "goto-delivery") {
      $("dl-h").scrollIntoView({ block: "start" });
    } else if (action === "replay-start") startReplay();
    else if (action === "replay-step") {
      stopReplayTimer();
      stepTo(el.dataset.to !== undefined ? Number(el.dataset.to) : s.replay.index + Number(el.dataset.delta));
    } else if (action === "replay-play") {
      if (s.replay.timer) stopReplayTimer();
      else {
        if (s.replay.index >= s.replay.states.length - 1) s.replay.index = 0;
        s.replay.timer = setInterval(() => stepTo(s.replay.index + 1), 700);
      }
      renderGraph();
    } else if (action === "replay-exit") { stopReplayTimer(); s.replay = null; renderGraph(); renderDetail(); }
  });
  container.addEventListener("keydown", (e) => {
    const tab = e.target.closest?.('[role="tab"]');
    if (tab && (e.key === "ArrowRight" || e.key === "ArrowLeft")) {
      // roving focus between flows, as the ARIA tabs pattern expects
      e.preventDefault();
      const list = graphs();
      const i = list.findIndex((g) => g.flowId === tab.dataset.flowId);
      const next = list[(i + (e.key === "ArrowRight" ? 1 : -1) + list.length) % list.length];
      s.flowId = next.flowId; s.taskId = null;
      renderGraph(); renderDetail();
      document.getElementById(`tab-${next.flowId}`)?.focus();
      return;
    }
    const node = e.target.closest?.("g.node");
    if (node && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      selectTask(node.dataset.taskId);
      document.querySelector(`g.node[data-task-id="${CSS.escape(s.taskId)}"]`)?.focus({ preventScroll: true });
    }
  });
  container.addEventListener("input", (e) => {
    if (e.target.id === "replay-range") { stopReplayTimer(); stepTo(Number(e.target.value)); }
    const m = e.target.id?.match(/^edit-(.+)$/);
    if (m && s.editing[m[1]] !== undefined) s.editing[m[1]] = e.target.value;
  });
  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    s.audit.filters = {
      traceId: f.traceId.value.trim(), taskId: f.taskId.value.trim(), agentId: f.agentId.value.trim(), type: f.type.value.trim(),
    };
    loadAudit(true);
  });

  return {
    refresh,
    unmount() { stopReplayTimer(); },
  };
}
