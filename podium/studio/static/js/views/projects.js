// Project list with filters by tenant, phase and status (filtering is done by the API).

import { api } from "../api.js";
import { PHASES, badge, esc, fmtTime, morph, phaseName, progressBar } from "../util.js";

export function mount(container, ctx) {
  const filters = { tenantId: "", phase: "", status: "" };
  const known = { tenants: new Set(), statuses: new Set() };
  container.innerHTML = `
    <section aria-labelledby="plist-h">
      <h1 id="plist-h">Projects</h1>
      <form class="filters" id="plist-filters" aria-label="Filter projects">
        <label>Tenant <select id="f-tenant" name="tenantId"><option value="">All tenants</option></select></label>
        <label>Phase <select id="f-phase" name="phase"><option value="">All phases</option>
          ${PHASES.map((p) => `<option value="${esc(p)}">${esc(p)}</option>`).join("")}</select></label>
        <label>Status <select id="f-status" name="status"><option value="">All statuses</option></select></label>
        <button type="reset" id="f-clear">Clear filters</button>
      </form>
      <div id="plist" aria-live="polite"></div>
    </section>`;
  const form = container.querySelector("#plist-filters");
  const list = container.querySelector("#plist");

  function fillSelect(id, values) {
    const select = container.querySelector(id);
    const have = new Set([...select.options].map((o) => o.value));
    [...values].sort().forEach((v) => {
      if (!have.has(v)) select.add(new Option(v, v));
    });
  }

  async function refresh() {
    const data = await api.projects(filters);
    const rows = data.projects || [];
    rows.forEach((p) => { known.tenants.add(p.tenantId); known.statuses.add(p.status); });
    fillSelect("#f-tenant", known.tenants);
    fillSelect("#f-status", known.statuses);
    const html = rows.length ? `
      <table class="grid" aria-describedby="plist-h">
        <thead><tr><th scope="col">Project</th><th scope="col">Tenant</th><th scope="col">Phase</th>
          <th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Related</th>
          <th scope="col">Updated</th></tr></thead>
        <tbody>${rows.map((p) => `
          <tr data-project-id="${esc(p.projectId)}">
            <td><a href="#/projects/${encodeURIComponent(p.projectId)}">${esc(p.name || p.projectId)}</a>
              <div class="sub">${esc(p.projectId)}</div></td>
            <td>${esc(p.tenantId)}</td>
            <td>${esc(phaseName(p.phase))}</td>
            <td>${badge(p.status)}</td>
            <td>${progressBar(p.progress, `progress of ${p.name || p.projectId}`)}</td>
            <td class="sub">${(p.upstream || []).length} upstream · ${(p.children || []).length} children</td>
            <td class="sub">${esc(fmtTime(p.updatedAt || p.createdAt))}</td>
          </tr>`).join("")}</tbody>
      </table>` : `<p class="empty">No project matches these filters.</p>`;
    morph(list, html);
  }

  form.addEventListener("change", (e) => {
    filters[e.target.name] = e.target.value;
    refresh().catch((err) => ctx.setConnection(err.message));
  });
  form.addEventListener("reset", () => {
    Object.keys(filters).forEach((k) => { filters[k] = ""; });
    setTimeout(() => refresh().catch((err) => ctx.setConnection(err.message)));
  });
  form.addEventListener("submit", (e) => e.preventDefault());
  return { refresh, unmount() {} };
}
