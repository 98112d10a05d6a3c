// Multi-project tree: parents and children with their phases aligned in columns, and a check
// that flags a child running ahead of an upstream project that has not delivered yet.

import { api } from "../api.js";
import { PHASES, badge, esc, morph, phaseIndex, phaseName } from "../util.js";

export function alignment(project, byId) {
  const mine = phaseIndex(project.phase);
  const ahead = (project.upstream || [])
    .map((id) => byId.get(id))
    .filter((up) => up && phaseIndex(up.phase) < PHASES.length - 1 && mine > phaseIndex(up.phase));
  if (!ahead.length) return { ok: true, text: "aligned with upstream" };
  return {
    ok: false,
    text: `ahead of upstream ${ahead.map((u) => `${u.name || u.projectId} (${phaseName(u.phase)})`).join(", ")}`,
  };
}

export function mount(container, ctx) {
  container.innerHTML = `
    <section aria-labelledby="tree-h">
      <h1 id="tree-h">Project tree</h1>
      <p class="hint">Each row shows where a project is in the lifecycle; columns line up across
        the family so parents and children can be compared at a glance.</p>
      <div id="tree"></div>
    </section>`;
  const host = container.querySelector("#tree");

  async function refresh() {
    let projects;
    try {
      ({ projects = [] } = await api.projects({}));
    } catch (err) {
      if (err.status >= 400 && err.status < 500) {
        morph(host, `<p class="msg msg-error" role="alert">The project list was refused
          (${esc(err.status)}): ${esc(err.message)}.</p>`);
        return;
      }
      throw err;
    }
    const byId = new Map(projects.map((p) => [p.projectId, p]));
    const kids = new Map(projects.map((p) => [p.projectId, new Set(p.children || [])]));
    projects.forEach((p) => (p.upstream || []).forEach((u) => kids.get(u)?.add(p.projectId)));
    const roots = projects.filter((p) => !(p.upstream || []).some((u) => byId.has(u)));
    const rows = [];
    const seen = new Set();
    const walk = (p, level) => {
      if (seen.has(p.projectId)) return;
      seen.add(p.projectId);
      const idx = phaseIndex(p.phase);
      const check = level > 0 ? alignment(p, byId) : null;
      const cells = PHASES.map((ph, i) => {
        const state = i < idx ? "done" : i === idx ? "current" : "future";
        return `<td class="phase-cell ${state}" title="${esc(ph)}: ${state}">`
          + `<span class="visually-hidden">${esc(ph)} ${state}</span></td>`;
      }).join("");
      rows.push(`<tr class="level-${Math.min(level, 4)}" data-project-id="${esc(p.projectId)}" aria-level="${level + 1}">
        <th scope="row"><span class="indent">${level ? "└ " : ""}</span>
          <a href="#/projects/${encodeURIComponent(p.projectId)}">${esc(p.name || p.projectId)}</a>
          ${badge(p.status)}</th>
        ${cells}
        <td class="align ${check ? (check.ok ? "ok" : "warn") : ""}">${check
          ? `${check.ok ? "&#10003;" : "&#9888;"} ${esc(check.text)}` : "root"}</td></tr>`);
      [...(kids.get(p.projectId) || [])].map((id) => byId.get(id)).filter(Boolean)
        .forEach((c) => walk(c, level + 1));
    };
    roots.forEach((r) => walk(r, 0));
    projects.forEach((p) => walk(p, 0)); // anything left (cycles) still shows
    morph(host, projects.length ? `
      <table class="grid tree-grid" aria-describedby="tree-h">
        <thead><tr><th scope="col">Project</th>${PHASES.map((p) => `<th scope="col" class="phase-h">${esc(p)}</th>`).join("")}
          <th scope="col">Phase alignment</th></tr></thead>
        <tbody>${rows.join("")}</tbody></table>` : `<p class="empty">No projects.</p>`);
  }
  return { refresh, unmount() {} };
}
