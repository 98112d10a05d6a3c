"""Studio in a real headless Chromium against a real HTTP server (the blueprint serves the UI;
the JSON API is the fixture stand-in until the app serves it). Screenshots go to
test-artifacts/studio-*.png."""

from __future__ import annotations

import re

import pytest

from tests.studio.conftest import shot
from tests.studio.fake_api import FakeApi

expect = pytest.importorskip("playwright.sync_api", reason="Python playwright not installed").expect

pytestmark = pytest.mark.browser

SHOP = "/api/studio#/projects/proj-shop"
ASSEMBLY_STATUSES = {
    "T1": "Completed",
    "T2": "InProgress",
    "T3": "Completed",
    "T4": "InProgress",
    "T5": "Failed",
    "T6": "Pending",
    "T7": "Stalled",
    "T8": "Skipped",
    "T9": "Pending",
}


def node(page, task_id: str):
    return page.locator(f'svg.dag g.node[data-task-id="{task_id}"]')


def open_shop(page) -> None:
    page.goto(SHOP)
    node(page, "T1").wait_for()


def test_project_list_filters_by_tenant_phase_status(page) -> None:
    page.goto("/api/studio")
    rows = page.locator("#plist tbody tr")
    rows.first.wait_for()
    assert rows.count() == 4
    page.fill("#f-tenant", "globex")
    page.press("#f-tenant", "Enter")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-project-id") == "proj-crm"
    page.click("#f-clear")
    expect(rows).to_have_count(4)
    page.select_option("#f-phase", "Assembly")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-project-id") == "proj-shop"
    page.click("#f-clear")
    page.select_option("#f-status", "Running")
    expect(rows).to_have_count(3)
    shot(page, "project-list")
    page.click("#f-clear")
    page.click("text=Online Shop")
    node(page, "T1").wait_for()
    assert page.url.endswith("#/projects/proj-shop")


def test_project_list_asks_for_a_tenant_when_the_api_needs_one(
    page, fake_api: FakeApi, page_errors
) -> None:
    page_errors.allow(r"status of 400")
    fake_api.require_tenant = True
    page.goto("/api/studio")
    alert = page.locator('#plist [role="alert"]')
    expect(alert).to_contain_text("tenantId is required")
    expect(alert).to_contain_text("Type a tenant")
    page.fill("#f-tenant", "acme")
    page.press("#f-tenant", "Enter")
    expect(page.locator("#plist tbody tr")).to_have_count(3)
    assert page.locator("#connection").is_hidden()


def test_dag_renders_with_the_right_statuses(page) -> None:
    open_shop(page)
    for task_id, status in ASSEMBLY_STATUSES.items():
        n = node(page, task_id)
        assert n.get_attribute("data-status") == status, task_id
    assert "st-failed" in node(page, "T5").get_attribute("class")
    assert "human-wait" in node(page, "T2").get_attribute("class")
    t3 = node(page, "T3").text_content()
    assert "developer-agent" in t3 and "attempt 2" in t3 and "12.5 s" in t3
    # every dependency is drawn as an edge
    assert page.locator("svg.dag path.edge").count() == 9
    # layers: dependencies are left of their dependents
    x = {t: node(page, t).bounding_box()["x"] for t in ("T1", "T3", "T4", "T6", "T9")}
    assert x["T1"] < x["T3"] < x["T4"] < x["T6"] < x["T9"]
    shot(page, "dag")


def test_graph_updates_live_without_reload(page, fake_api: FakeApi) -> None:
    open_shop(page)
    page.evaluate("window.__marker = 'same page'")
    fake_api.set_node(
        "proj-shop",
        "T4",
        status="Completed",
        completedAt="2026-11-25T09:20:00Z",
        durationMs=1_062_000,
    )
    fake_api.set_node("proj-shop", "T6", status="InProgress", attempts=1)
    page.wait_for_selector('g.node[data-task-id="T4"][data-status="Completed"]')
    page.wait_for_selector('g.node[data-task-id="T6"][data-status="InProgress"]')
    assert page.evaluate("window.__marker") == "same page"
    assert "17 m 42 s" in node(page, "T4").text_content()


def test_pending_approval_is_approved_by_clicking(page, fake_api: FakeApi) -> None:
    open_shop(page)
    assert page.locator("#inbox-h").text_content() == "Human task inbox (2 pending)"
    shot(page, "inbox")
    approve = page.locator("#btn-approve-T2")
    assert approve.is_enabled()
    approve.click()
    page.wait_for_selector('g.node[data-task-id="T2"][data-status="Completed"]')
    assert fake_api.posts == [
        {"projectId": "proj-shop", "taskId": "T2", "response": "Approve", "data": {}}
    ]
    assert page.locator("#inbox-h").text_content() == "Human task inbox (1 pending)"
    assert page.locator('[data-human-task="T2"]').get_by_text("Approve recorded.").count() == 1


def test_unauthorized_role_sees_the_button_refused(page, fake_api: FakeApi) -> None:
    open_shop(page)
    card = page.locator('article[data-human-task="T9"]')
    for response in ("approve", "reject"):
        assert page.locator(f"#btn-{response}-T9").is_disabled()
    reason = card.locator(".reason").text_content()
    assert "Requires role Admin; you have Architect." in reason
    assert page.locator("#btn-approve-T9").get_attribute("aria-describedby") == "reason-T9"
    page.locator("#btn-approve-T9").click(force=True)  # a disabled button sends nothing
    assert fake_api.posts == []
    shot(page, "refused")


def test_server_403_is_shown_as_a_clear_message(page, fake_api: FakeApi, page_errors) -> None:
    """The user's roles changed since the page loaded: the server refuses and Studio says so."""
    page_errors.allow(r"status of 403")  # Chromium logs the refused request itself
    open_shop(page)
    fake_api.server_roles = ["Viewer"]
    page.click("#btn-reject-T2")
    alert = page.locator('article[data-human-task="T2"] [role="alert"]')
    alert.wait_for()
    text = alert.text_content()
    assert "Refused by the server (403 Forbidden)" in text
    assert "user:dmitry lacks role Architect" in text
    assert node(page, "T2").get_attribute("data-status") == "InProgress"


def test_edit_opens_a_field_and_sends_json(page, fake_api: FakeApi) -> None:
    open_shop(page)
    page.click("#btn-edit-T2")
    field = page.locator("#edit-T2")
    field.wait_for()
    assert page.evaluate("document.activeElement.id") == "edit-T2"
    field.fill('{"entities": ["Order", "Invoice"]}')
    page.wait_for_timeout(1700)  # a poll in between must not wipe what was typed
    assert field.input_value() == '{"entities": ["Order", "Invoice"]}'
    page.click("#edit-submit-T2")
    page.wait_for_selector('g.node[data-task-id="T2"][data-status="Completed"]')
    assert fake_api.posts[-1]["response"] == "Edit"
    assert fake_api.posts[-1]["data"] == {"entities": ["Order", "Invoice"]}


def test_timeline_shows_the_current_phase_and_advances(page, fake_api: FakeApi) -> None:
    open_shop(page)
    current = page.locator('.timeline li[aria-current="step"]')
    assert current.get_attribute("data-phase") == "Assembly"
    assert page.locator(".timeline > li").count() == 9
    assert page.locator(".timeline > li.ph-done").count() == 2
    page.click("#ph-Initialization")
    flows = page.locator("#phf-Initialization")
    assert flows.is_visible() and "Project bootstrap" in flows.text_content()
    flows.get_by_role("button", name="Project bootstrap").click()
    node(page, "B1").wait_for()
    assert page.locator("#tab-bootstrap").get_attribute("aria-selected") == "true"
    assert fake_api.advance_phase("proj-shop") == "Security"
    page.wait_for_selector('.timeline li[aria-current="step"][data-phase="Security"]')
    assert page.locator("#current-phase").text_content() == "Security"
    assert page.locator(".timeline > li.ph-done").count() == 3
    shot(page, "timeline")


def test_mark_phase_complete_honours_the_server(page, fake_api: FakeApi, page_errors) -> None:
    page_errors.allow(r"status of 403")
    open_shop(page)
    page.click("#mark-phase-complete")
    expect(page.locator("#mark-phase-msg")).to_contain_text(
        "Refused by the server (403 Forbidden): needs one of the roles ['Admin']"
    )
    expect(page.locator('.timeline > li[aria-current="step"]')).to_have_attribute(
        "data-phase", "Assembly"
    )
    fake_api.state["me"]["roles"] = ["Admin"]
    page.reload()
    node(page, "T1").wait_for()
    page.click("#mark-phase-complete")
    expect(page.locator('.timeline > li[aria-current="step"]')).to_have_attribute(
        "data-phase", "Security"
    )
    expect(page.locator("#mark-phase-msg")).to_contain_text("Assembly marked complete.")


def test_task_detail_by_keyboard_shows_vault_references_only(page) -> None:
    open_shop(page)
    node(page, "T3").focus()
    page.keyboard.press("Enter")
    detail = page.locator("#detail-inputs")
    detail.wait_for()
    text = detail.text_content()
    assert "@vault:kv/orders-db-password" in text and "@vault:kv/repo-token" in text
    assert "should-never-be-here" not in text  # a secret-looking key is masked by Studio
    assert "(hidden)" in text
    assert page.locator("#detail-title").text_content().startswith("T3")
    assert page.evaluate("document.activeElement.dataset.taskId") == "T3"
    # Tab reaches the nodes (keyboard accessible)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('role')") == "button"
    page.wait_for_timeout(400)  # smooth scroll to the panel
    shot(page, "task-detail")
    # flows are ARIA tabs: arrow keys move between them and the graph panel follows
    page.focus("#tab-assembly-orders")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-bootstrap")).to_have_attribute("aria-selected", "true")
    assert page.evaluate("document.activeElement.id") == "tab-bootstrap"
    expect(page.locator("#p-dag")).to_have_attribute("aria-labelledby", "tab-bootstrap")
    node(page, "B1").wait_for()


def test_audit_trail_filters_by_trace_task_and_agent(page) -> None:
    open_shop(page)
    rows = page.locator("#audit-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 21
    page.fill("#af-agentId", "developer-agent")
    page.click("#af-apply")
    expect(rows).to_have_count(4)
    assert {rows.nth(i).get_attribute("data-agent-id") for i in range(4)} == {"developer-agent"}
    page.click("#af-clear")
    expect(rows).to_have_count(21)
    # clicking the project's traceId filters by it (bootstrap trace: 8 records)
    page.click('#p-header [data-key="traceId"]')
    expect(rows).to_have_count(8)
    assert page.input_value("#af-traceId") == "4bf92f3577b34da6a3ce929d0e0e4736"
    page.fill("#af-traceId", "")
    page.fill("#af-taskId", "T3")
    page.press("#af-taskId", "Enter")
    expect(rows).to_have_count(4)
    page.click("#af-clear")
    expect(rows).to_have_count(21)
    rows.first.locator('[data-key="type"]').click()  # "ProjectCreated"
    expect(rows).to_have_count(1)
    assert page.input_value("#af-type") == "ProjectCreated"
    shot(page, "audit", full_page=True)


def test_replay_steps_through_a_past_run(page) -> None:
    open_shop(page)
    page.click("#tab-assembly-orders")
    page.click("#replay-start")
    status = page.locator("#replay-status")
    status.wait_for()
    assert "Step 0 of 13" in status.text_content()
    assert {node(page, t).get_attribute("data-status") for t in ASSEMBLY_STATUSES} == {"Pending"}
    page.click("#replay-next")
    assert node(page, "T1").get_attribute("data-status") == "InProgress"
    page.click("#replay-next")
    assert node(page, "T1").get_attribute("data-status") == "Completed"
    page.locator("#replay-range").fill("5")  # T3's first attempt failed
    assert node(page, "T3").get_attribute("data-status") == "Failed"
    page.click("#replay-next")
    assert node(page, "T3").get_attribute("data-status") == "InProgress"
    assert "attempt 2" in node(page, "T3").text_content()
    page.click("#replay-last")
    for task_id, expected in ASSEMBLY_STATUSES.items():
        assert node(page, task_id).get_attribute("data-status") == expected, task_id
    shot(page, "replay")
    page.click("#replay-exit")
    assert page.locator("#replay-start").is_visible()


def test_delivery_summary_with_artifact_downloads_and_locked_project(page) -> None:
    page.goto("/api/studio#/projects/proj-crm")
    page.locator(".artifacts a").first.wait_for()
    links = page.locator(".artifacts a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        "/api/projects/proj-crm/artifacts/crm-suite.zip",
        "/api/projects/proj-crm/artifacts/delivery-report.json",
        "#",  # a javascript: URL from the API is never rendered as a link target
    ]
    with page.expect_download() as download:
        links.first.click()
    assert download.value.suggested_filename == "crm-suite.zip"
    assert "coverage" in page.locator("#p-delivery").text_content()
    assert page.get_attribute("#delivery-export", "href") == "/api/projects/proj-crm/export"
    expect(page.locator("#p-header .banner.delivered")).to_contain_text("delivered successfully")
    assert page.locator("#btn-approve-F9").is_disabled()
    assert "locked" in page.locator('[data-human-task="F9"] .reason').text_content()
    shot(page, "delivery")


def test_multi_project_tree_aligns_phases(page) -> None:
    page.goto("/api/studio#/tree")
    rows = page.locator(".tree-grid tbody tr")
    rows.first.wait_for()
    order = [rows.nth(i).get_attribute("data-project-id") for i in range(rows.count())]
    assert order.index("proj-shop") < order.index("proj-shop-orders")
    assert order.index("proj-shop") < order.index("proj-shop-ui")
    ui = page.locator('tr[data-project-id="proj-shop-ui"]')
    assert "ahead of upstream Online Shop (Assembly)" in ui.locator(".align").text_content()
    orders = page.locator('tr[data-project-id="proj-shop-orders"]')
    assert "aligned" in orders.locator(".align").text_content()
    # the current phase sits in the same column for every row
    current_cols = {
        r: page.locator(f'tr[data-project-id="{r}"] td.current').bounding_box()["x"]
        for r in ("proj-shop", "proj-shop-ui")
    }
    assert current_cols["proj-shop"] < current_cols["proj-shop-ui"]
    shot(page, "tree")


def test_studio_works_with_and_without_trailing_slash(page) -> None:
    for path in ("/api/studio", "/api/studio/", "/api/studio/index.html"):
        page.goto(path)
        page.locator("#plist tbody tr").first.wait_for()
        assert re.search(r"Online Shop", page.content())


def _big_graph(layers: int, width: int) -> list[dict]:
    nodes = []
    for layer in range(layers):
        for i in range(width):
            deps = [f"L{layer - 1}N{(i + k) % width}" for k in (0, 1)] if layer else []
            nodes.append(
                {
                    "taskId": f"L{layer}N{i}",
                    "type": "GenerateCode",
                    "agentId": "developer-agent",
                    "status": "Completed" if layer < layers // 2 else "Pending",
                    "attempts": 1,
                    "dependsOn": deps,
                    "durationMs": 1200,
                    "optional": False,
                    "inputs": {},
                    "outputs": {},
                }
            )
    return nodes


def test_large_graph_layout_and_render_time(page) -> None:
    """Figures for the report: layout + SVG markup of big graphs, in the browser."""
    page.goto("/api/studio")
    page.locator("#plist tbody tr").first.wait_for()
    timings = {}
    for layers, width in ((10, 30), (25, 40)):
        nodes = _big_graph(layers, width)
        ms = page.evaluate(
            """async (nodes) => {
                const dag = await import('./js/dag.js');
                const t0 = performance.now();
                const svg = dag.renderDag(nodes, null);
                const t1 = performance.now();
                const box = document.createElement('div');
                box.innerHTML = svg;
                document.body.append(box);
                const t2 = performance.now();
                const count = box.querySelectorAll('g.node').length;
                box.remove();
                return [t1 - t0, t2 - t1, count];
            }""",
            nodes,
        )
        assert ms[2] == len(nodes)
        timings[len(nodes)] = ms
        print(f"DAG {len(nodes)} nodes: layout+markup {ms[0]:.1f} ms, DOM insert {ms[1]:.1f} ms")
    assert timings[1000][0] + timings[1000][1] < 3000


def test_api_data_is_escaped_not_interpreted(page, fake_api: FakeApi) -> None:
    evil = '<img src=x onerror="window.__xss=1">Shop'
    fake_api.state["projects"][0]["name"] = evil
    fake_api.project("proj-shop")["name"] = evil
    fake_api.set_node("proj-shop", "T1", outputs={"note": "<script>window.__xss=2</script>"})
    page.goto("/api/studio")
    expect(page.locator('#plist tr[data-project-id="proj-shop"]')).to_contain_text(evil)
    open_shop(page)
    node(page, "T1").click()
    expect(page.locator("#detail-outputs")).to_contain_text("<script>window.__xss=2</script>")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_metrics_dashboard_shows_the_apps_metrics(page) -> None:
    from podium.observability import reset_metrics

    m = reset_metrics()
    try:
        m.orchestration_started("project-bootstrap", tenant_id="acme")
        m.orchestration_started("microservice-assembly", tenant_id="acme")
        m.orchestration_finished("project-bootstrap", status="Completed")
        m.agent_task_triggered("qa-agent", "RunTests")
        m.agent_task_completed("qa-agent", "RunTests", 1500.0, True)
        m.agent_task_completed("qa-agent", "RunTests", 2500.0, False)
        m.human_task_requested("Architect")
        m.human_task_answered("Architect", "Approve", 4000.0)
        m.project_phase_changed(None, "Planning")
        m.project_phase_changed(None, "Planning")
        m.secret_resolved(3.0)
        page.goto("/api/studio#/metrics")
        expect(page.locator("#m-started")).to_have_text("2")
        expect(page.locator("#m-active")).to_have_text("1")
        expect(page.locator("#m-triggered")).to_have_text("1")
        expect(page.locator("#m-latency")).to_have_text("2.0 s")
        expect(page.locator("#m-human-requested")).to_have_text("1")
        expect(page.locator("#m-human-response")).to_have_text("4.0 s")
        expect(page.locator("#m-phase-Planning")).to_have_text("2")
        expect(page.locator("#m-secrets")).to_have_text("1")
        expect(page.locator('section[aria-label="Agent tasks"]')).to_contain_text("qa-agent50%")
        assert page.get_attribute("#m-raw", "href") == "../metrics"
        expect(page.locator('[data-nav="metrics"]')).to_have_attribute("aria-current", "page")
        shot(page, "metrics")
        # live: a new orchestration shows up without reload
        m.orchestration_started("security-hardening", tenant_id="acme")
        expect(page.locator("#m-started")).to_have_text("3")
    finally:
        reset_metrics()
