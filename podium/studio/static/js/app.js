// Studio entry point: hash router, current user, polling loop.
//
// Routes: #/ (project list), #/tree (multi-project tree), #/projects/<id> (project page).
// Views export mount(container, ctx) returning an object with refresh() and unmount().

import { api } from "./api.js";
import { esc } from "./util.js";
import * as metrics from "./views/metrics.js";
import * as projects from "./views/projects.js";
import * as project from "./views/project.js";
import * as tree from "./views/tree.js";

export const POLL_MS = 1500;

const ctx = {
  me: { userId: null, roles: [] },
  hasRole(role) {
    if (!role) return true;
    return this.me.roles.some((r) => String(r).toLowerCase() === String(role).toLowerCase());
  },
  setConnection(message) {
    const el = document.getElementById("connection");
    el.hidden = !message;
    el.textContent = message || "";
  },
};

let current = null;
let timer = null;
let busy = false;

async function tick() {
  if (!current || busy) return;
  busy = true;
  try {
    await current.refresh();
    ctx.setConnection(null);
  } catch (err) {
    ctx.setConnection(`Cannot refresh: ${err.message}. Retrying…`);
  } finally {
    busy = false;
  }
}

function schedule(ms) {
  clearInterval(timer);
  timer = setInterval(tick, ms);
}

function route() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const main = document.getElementById("main");
  if (current) current.unmount?.();
  current = null;
  main.innerHTML = "";
  let view; let arg = null; let ms = POLL_MS;
  const m = hash.match(/^\/projects\/([^/?]+)/);
  if (m) { view = project; arg = decodeURIComponent(m[1]); } else if (hash.startsWith("/tree")) {
    view = tree; ms = 3000;
  } else if (hash.startsWith("/metrics")) {
    view = metrics; ms = 5000;
  } else { view = projects; ms = 3000; }
  const section = view === tree ? "tree" : view === metrics ? "metrics" : "projects";
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const active = a.dataset.nav === section;
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  current = view.mount(main, ctx, arg);
  busy = false;
  tick();
  schedule(ms);
}

async function loadMe() {
  const el = document.getElementById("me");
  try {
    ctx.me = await api.me();
    ctx.me.roles ||= [];
    el.innerHTML = `<span class="user" title="Signed-in user">${esc(ctx.me.userId)}</span> `
      + `<span class="roles">${ctx.me.roles.map((r) => `<span class="role">${esc(r)}</span>`).join(" ")
        || "<span class=\"role none\">no roles</span>"}</span>`;
  } catch (err) {
    ctx.me = { userId: null, roles: [] };
    el.textContent = `not signed in (${err.message}): read only`;
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  await loadMe();
  route();
});
