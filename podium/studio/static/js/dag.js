// The ExecutionGraph as a layered DAG drawn in SVG (left to right: dependencies first).
//
// Layout: a node's layer is the length of its longest dependency chain; within a layer nodes
// are ordered by the mean position of their dependencies (two barycentre sweeps), which keeps
// edges short and mostly uncrossed for the graph sizes Podium produces (tens of tasks).

import { esc, fmtDuration, statusClass } from "./util.js";

export const NODE_W = 168;
export const NODE_H = 74;
const GAP_X = 44;
const GAP_Y = 18;
const PAD = 16;

export function layout(nodes) {
  const byId = new Map(nodes.map((n) => [n.taskId, n]));
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0; // a cycle would be a server bug; do not loop forever
    visiting.add(id);
    const deps = (byId.get(id)?.dependsOn || []).filter((d) => byId.has(d));
    const value = deps.length ? 1 + Math.max(...deps.map(depth)) : 0;
    visiting.delete(id);
    layer.set(id, value);
    return value;
  };
  nodes.forEach((n) => depth(n.taskId));
  const layers = [];
  nodes.forEach((n) => {
    const l = layer.get(n.taskId);
    (layers[l] ||= []).push(n.taskId);
  });
  const pos = new Map();
  const index = () => layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i)));
  index();
  for (let sweep = 0; sweep < 2; sweep += 1) {
    for (let l = 1; l < layers.length; l += 1) {
      const bary = (id) => {
        const deps = (byId.get(id).dependsOn || []).filter((d) => pos.has(d));
        return deps.length ? deps.reduce((s, d) => s + pos.get(d), 0) / deps.length : pos.get(id);
      };
      layers[l] = layers[l]
        .map((id, i) => [id, bary(id), i])
        .sort((a, b) => a[1] - b[1] || a[2] - b[2])
        .map((x) => x[0]);
      index();
    }
  }
  const tallest = Math.max(1, ...layers.map((ids) => ids.length));
  const coords = new Map();
  layers.forEach((ids, l) => {
    const offset = ((tallest - ids.length) * (NODE_H + GAP_Y)) / 2;
    ids.forEach((id, i) => coords.set(id, {
      x: PAD + l * (NODE_W + GAP_X),
      y: PAD + offset + i * (NODE_H + GAP_Y),
    }));
  });
  return {
    coords,
    width: PAD * 2 + layers.length * NODE_W + Math.max(0, layers.length - 1) * GAP_X,
    height: PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y,
  };
}

function nodeLabel(n) {
  const parts = [`Task ${n.taskId}`, n.type, `status ${n.status}`];
  if (n.agentId) parts.push(`agent ${n.agentId}`);
  parts.push(`attempts ${n.attempts ?? 0}`, `duration ${fmtDuration(n.durationMs)}`);
  if (n.human) parts.push(`human task requiring role ${n.human.requiredRole}`);
  if (n.optional) parts.push("optional");
  return parts.join(", ");
}

function clip(text, max) {
  const s = String(text ?? "");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function renderDag(nodes, selectedId) {
  if (!nodes.length) return `<p class="empty">This flow has no tasks yet.</p>`;
  const { coords, width, height } = layout(nodes);
  const edges = [];
  nodes.forEach((n) => (n.dependsOn || []).forEach((d) => {
    const a = coords.get(d);
    const b = coords.get(n.taskId);
    if (!a || !b) return;
    const x1 = a.x + NODE_W; const y1 = a.y + NODE_H / 2;
    const x2 = b.x; const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    edges.push(`<path class="edge" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}" `
      + `marker-end="url(#arrow)" data-from="${esc(d)}" data-to="${esc(n.taskId)}"/>`);
  }));
  const boxes = nodes.map((n) => {
    const { x, y } = coords.get(n.taskId);
    const cls = statusClass(n.status);
    const waiting = n.human && ["running", "ready", "pending"].includes(cls);
    const agent = n.human ? `human: ${esc(clip(n.human.requiredRole, 16))} approval` : esc(clip(n.agentId || "system", 24));
    const selected = n.taskId === selectedId ? " selected" : "";
    return `<g class="node st-${cls}${waiting ? " human-wait" : ""}${n.optional ? " optional" : ""}${selected}" `
      + `transform="translate(${x},${y})" tabindex="0" role="button" data-task-id="${esc(n.taskId)}" `
      + `data-status="${esc(n.status)}" aria-pressed="${selected ? "true" : "false"}" aria-label="${esc(nodeLabel(n))}">`
      + `<rect width="${NODE_W}" height="${NODE_H}" rx="8"/>`
      + `<text x="10" y="19" class="n-id">${esc(clip(n.taskId, 21))}</text>`
      + `<text x="10" y="36" class="n-type"><tspan class="n-status">${esc(n.status)}</tspan>`
      + `${n.type && n.type !== n.taskId ? ` · ${esc(clip(n.type, 24 - String(n.status).length))}` : ""}</text>`
      + `<text x="10" y="52" class="n-agent">${agent}</text>`
      + `<text x="10" y="67" class="n-meta">attempt ${esc(n.attempts ?? 0)} · ${esc(fmtDuration(n.durationMs))}${n.optional ? " · optional" : ""}</text>`
      + `</g>`;
  });
  return `<svg class="dag" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" `
    + `role="group" aria-label="Execution graph: ${nodes.length} tasks">`
    + `<defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">`
    + `<path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>`
    + `${edges.join("")}${boxes.join("")}</svg>`;
}

export const LEGEND = ["Pending", "Ready", "InProgress", "Completed", "Failed", "Stalled", "Skipped"];

export function renderLegend() {
  const items = LEGEND.map((s) => `<li><span class="swatch st-${statusClass(s)}"></span>${esc(s)}</li>`);
  items.push(`<li><span class="swatch human-wait"></span>awaiting human</li>`);
  return `<ul class="legend" aria-label="Status colours">${items.join("")}</ul>`;
}
