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
        <label>Tenant <input id="f-tenant" name="tenantId" list="f-tenants" placeholder="All tenants"
          autocomplete="off" aria-describedby="f-tenant-hint"><datalist id="f-tenants"></datalist></label>
        <label>Phase <select id="f-phase" name="phase"><option value="">All phases</option>
          ${PHASES.map((p) => `<option value="${esc(p)}">${esc(p)}</option>`).join("")}</select></label>
        <label>Status <select id="f-status" name="status"><option value="">All statuses</option></select></label>
        <button type="submit" id="f-apply">Apply</button>
        <button type="reset" id="f-clear">Clear filters</button>
      </form>
      <p id="f-tenant-hint" class="hint">Type or pick a tenant; the list shows the tenants seen so far.</p>
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

  function fillTenants() {
    const list = container.querySelector("#f-tenants");
    const have = new Set([...list.options].map((o) => o.value));
    [...known.tenants].sort().forEach((t) => {
      if (!have.has(t)) list.append(new Option(t, t));
    });
  }

  async function refresh() {
    let data;
    try {
      data = await api.projects(filters);
    } catch (err) {
      if (err.status >= 400 && err.status < 500) { // e.g. the app needs a tenant to list
        morph(list, `<p class="msg msg-error" role="alert">The project list was refused (${esc(err.status)}):
          ${esc(err.message)}. ${filters.tenantId ? "" : "Type a tenant in the Tenant filter."}</p>`);
        return;
      }
      throw err;
    }
    const rows = data.projects || [];
    rows.forEach((p) => { known.tenants.add(p.tenantId); known.statuses.add(p.status); });
    fillTenants();
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

  function apply() {
    filters.tenantId = form.elements.tenantId.value.trim();
    filters.phase = form.elements.phase.value;
    filters.status = form.elements.status.value;
    refresh().catch((err) => ctx.setConnection(err.message));
  }
  form.addEventListener("change", apply);
  form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  form.addEventListener("reset", () => setTimeout(apply));
  return { refresh, unmount() {} };
}
