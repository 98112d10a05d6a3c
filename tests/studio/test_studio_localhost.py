"""Studio against the real app: function_app.py under Podium's local host (real HTTP port,
real Durable engine, built-in agents on the embedded broker) running the example project.

The UI must show exactly what the app's API says: the DAG's statuses, the human task inbox with
buttons honouring the signed-in principal's roles, and answers sent by clicking."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.studio.conftest import shot
from tests.studio.realhost import RealApp, real_app

expect = pytest.importorskip("playwright.sync_api", reason="Python playwright not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealApp]:
    with real_app(tmp_path, monkeypatch) as instance:
        yield instance


def _principal(user: str, roles: list[str]) -> str:
    from podium.coordination.principal import encode_principal

    return encode_principal(user, roles)


def test_studio_follows_the_example_run(browser, app: RealApp, page_errors) -> None:
    pid = app.create_example()
    # the run reaches its first human checkpoint (an approval or an escalation)
    state = app.first_checkpoint(pid)
    task = state["humanTasks"][0]

    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=app.base)
    page = context.new_page()
    page.on("console", lambda m: page_errors.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page_errors.errors.append(str(e)))
    page.goto(f"/api/studio#/projects/{pid}")
    card = page.locator(f'article[data-human-task="{task["taskId"]}"]')
    card.wait_for(timeout=15_000)

    # the DAG shows the API's statuses, node for node
    state = app.get(f"/api/projects/{pid}")
    graph = next(g for g in state["graphs"] if g["flowId"] == task["flowId"])
    page.locator(f'[role="tab"][id="tab-{graph["flowId"]}"]').click()
    for node in graph["nodes"]:
        expect(page.locator(f'svg.dag g.node[data-task-id="{node["taskId"]}"]')).to_have_attribute(
            "data-status", node["status"]
        )
    # the timeline shows the app's current phase
    current = page.locator('.timeline > li[aria-current="step"]')
    expect(current).to_have_attribute("data-phase", state["phase"])
    assert page.locator(".timeline > li.ph-done").count() >= 1  # Initialization is behind us
    shot(page, "real-host-dag")

    # a user without the task's role sees every answer button refused, with the reason
    viewer = browser.new_context(
        viewport={"width": 1366, "height": 768},
        base_url=app.base,
        extra_http_headers={"X-MS-CLIENT-PRINCIPAL": _principal("user:viewer", ["Viewer"])},
    )
    vpage = viewer.new_page()
    vpage.on("console", lambda m: page_errors.errors.append(m.text) if m.type == "error" else None)
    vpage.on("pageerror", lambda e: page_errors.errors.append(str(e)))
    vpage.goto(f"/api/studio#/projects/{pid}")
    vcard = vpage.locator(f'article[data-human-task="{task["taskId"]}"]')
    vcard.wait_for(timeout=15_000)
    expect(vpage.locator("#me")).to_contain_text("user:viewer")
    buttons = vcard.locator(".actions button")
    assert buttons.count() == len(task["options"])
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
    expect(vcard.locator(".reason")).to_contain_text(
        f"Requires role {task['requiredRole']}; you have Viewer."
    )
    shot(vpage, "real-host-refused")
    viewer.close()

    # the authorized user answers by clicking, as a person would: approve approvals, skip
    # failed steps, until the project leaves its phase; the timeline follows without reload
    initial = state["phase"]
    done_before = page.locator(".timeline > li.ph-done").count()
    page.evaluate("window.__marker = 'same page'")
    answered: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + 90
    while current.get_attribute("data-phase") == initial:
        assert time.monotonic() < deadline, f"phase stayed {initial}; answered {answered}"
        cards = page.locator("article.htask")
        if not cards.count():
            page.wait_for_timeout(250)
            continue
        tid = cards.first.get_attribute("data-human-task")
        mine = page.locator(f'article[data-human-task="{tid}"]')
        options = [b.get_attribute("data-response") for b in mine.locator(".actions button").all()]
        choice = next((o for o in ("Approve", "Skip") if o in options), options[0])
        title = mine.locator("h3").text_content()
        mine.locator(f'button[data-response="{choice}"]').click()
        expect(mine).to_have_count(0, timeout=15_000)
        answered.append((tid, choice, title))
    expect(current).not_to_have_attribute("data-phase", initial)
    assert page.locator(".timeline > li.ph-done").count() > done_before
    assert page.evaluate("window.__marker") == "same page"
    assert any(c == "Approve" for _, c, _ in answered), answered
    shot(page, "real-host-advanced")

    # replaying the run from the app's audit trail ends in the graph's live state
    live = {
        n["taskId"]: n["status"]
        for n in next(
            g for g in app.get(f"/api/projects/{pid}")["graphs"] if g["flowId"] == graph["flowId"]
        )["nodes"]
    }
    page.click("#replay-start")
    page.click("#replay-first")
    for task_id in live:
        expect(page.locator(f'g.node[data-task-id="{task_id}"]')).to_have_attribute(
            "data-status", "Pending"
        )
    page.click("#replay-last")
    for task_id, status in live.items():
        expect(page.locator(f'g.node[data-task-id="{task_id}"]')).to_have_attribute(
            "data-status", status
        )
    page.click("#replay-exit")

    audit = app.get(f"/api/projects/{pid}/audit")["records"]
    responses = [r for r in audit if r["type"] == "HumanTaskResponseReceived"]
    assert len(responses) == len(answered)
    assert {r["actor"] for r in responses} == {"user:dev"}
    assert {(r["details"].get("humanTaskId"), r["action"].split(" ")[0]) for r in responses} == {
        (tid, choice) for tid, choice, _ in answered
    }
    # the project list (PODIUM_TENANTS=contoso) shows the project in its new phase
    page.goto("/api/studio#/")
    row = page.locator(f'#plist tr[data-project-id="{pid}"]')
    expect(row).to_contain_text("Contoso Shop")
    expect(row).to_contain_text(app.get(f"/api/projects/{pid}")["phase"])
    context.close()
    assert page_errors.unexpected() == []
