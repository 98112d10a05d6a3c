// The JSON API Studio calls (implemented by the Functions app; see docs/studio.md).

function apiBase() {
  const meta = document.querySelector('meta[name="podium-api-base"]');
  if (meta && meta.content) return meta.content;
  const path = window.location.pathname;
  const i = path.lastIndexOf("/studio");
  return i >= 0 ? `${path.slice(0, i)}/` : "/api/";
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiBase() + path, init);
  } catch (err) {
    throw new ApiError(0, `cannot reach the Podium API (${err.message})`, null);
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text }; }
  }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || response.statusText || "error";
    throw new ApiError(response.status, message, data);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function text(path) {
  let response;
  try {
    response = await fetch(apiBase() + path, { headers: { Accept: "text/plain" }, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, `cannot reach the Podium API (${err.message})`, null);
  }
  const body = await response.text();
  if (!response.ok) throw new ApiError(response.status, body || response.statusText, null);
  return body;
}

export const api = {
  metricsText: () => text("metrics"),
  me: () => request("GET", "me"),
  projects: (filters) => request("GET", `projects${query(filters)}`),
  project: (id) => request("GET", `projects/${encodeURIComponent(id)}`),
  audit: (id, filters) => request("GET", `projects/${encodeURIComponent(id)}/audit${query(filters)}`),
  action: (projectId, action, body) => request(
    "POST", `projects/${encodeURIComponent(projectId)}/actions/${encodeURIComponent(action)}`, body ?? {},
  ),
  answer: (projectId, taskId, response, data) => request(
    "POST",
    `projects/${encodeURIComponent(projectId)}/human-tasks/${encodeURIComponent(taskId)}`,
    { response, data: data ?? {} },
  ),
};
