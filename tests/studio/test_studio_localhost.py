"""Studio against the real app: function_app.py under Podium's local host (real HTTP port,
real Durable engine, built-in agents on the embedded broker) running the example project.

The UI must show exactly what the app's API says: the DAG's statuses, the human task inbox with
buttons honouring the signed-in principal's roles, and answers sent by clicking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.studio.conftest import shot
from tests.studio.realhost import RealApp, real_app

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

    # the authorized user answers by clicking; the app records it
    choice = "Approve" if "Approve" in task["options"] else task["options"][0]
    card.locator(f'button[data-response="{choice}"]').click()
    expect(card).to_have_count(0, timeout=15_000)
    app.wait(
        lambda: all(
            t["taskId"] != task["taskId"] for t in app.get(f"/api/projects/{pid}")["humanTasks"]
        )
    )
    audit = app.get(f"/api/projects/{pid}/audit")["records"]
    answered = [r for r in audit if r["type"] == "HumanTaskResponseReceived"]
    assert answered and answered[-1]["actor"] == "user:dev"
    assert answered[-1]["action"].startswith(choice)
    shot(page, "real-host-answered")
    context.close()
    assert page_errors.unexpected() == []
