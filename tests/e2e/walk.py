"""How the e2e tests walk the dashboard: the steps a user takes, each waiting until the page has answered."""

import base64
import re
import time

from playwright.sync_api import expect


def open_app(page, voila_url):
    start = time.perf_counter()
    page.goto(voila_url)
    expect(page.get_by_text("Create new task").first).to_be_visible(timeout=60_000)
    return time.perf_counter() - start


def choose_card(page, title):
    """Select the card titled `title`: by its title alone, since a card's text may name another (the
    Specialized flow's card says "pneumothorax", and a click made before the next step is drawn would hit it)."""
    titled = page.locator("div.dq-card").filter(has=page.locator("b", has_text=re.compile(rf"^{re.escape(title)}$")))
    titled.get_by_role("button").click()
    expect(titled.and_(page.locator("div.dq-card-on"))).to_be_visible()


def next_step(page):
    """Next, then wait until the wizard shows the next step (the kernel answers a click asynchronously)."""
    button = page.get_by_role("button", name="Next ›", exact=True)
    expect(button).to_be_enabled()
    current = page.locator(".dq-step-current")
    before = current.inner_text()
    button.click()
    expect(current).not_to_have_text(before)


def start_and_finish(page, name: str) -> None:
    """From the step before Start: name the task, start it, and wait until its monitor says Finished."""
    next_step(page)
    page.get_by_placeholder("required, unique").fill(name)
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_enabled()
    start.click()
    expect(page.locator(".dq-badge", has_text="Finished")).to_be_visible(timeout=420_000)


def shown_preview(page, expected: bytes, timeout_s: float = 30.0) -> bytes:
    """The bytes of the dataset step's preview as the browser holds them (the widget's blob URL, read back), once
    they are `expected` or `timeout_s` has passed (the step draws the page of thumbnails after the counts)."""
    deadline = time.time() + timeout_s
    while True:
        encoded = page.locator("img.widget-image:visible").first.evaluate(
            """async (img) => {
                const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
                let text = "";
                for (const b of bytes) text += String.fromCharCode(b);
                return btoa(text);
            }"""
        )
        shown = base64.b64decode(encoded)
        if shown == expected or time.time() > deadline:
            return shown
        page.wait_for_timeout(500)


def choose_dataset(page, flow: str, card: str, dataset: str) -> None:
    """From the first step: the `flow`, its task type or preset `card`, then `dataset` in the dataset step."""
    choose_card(page, flow)
    next_step(page)
    choose_card(page, card)
    next_step(page)
    choice = page.locator(".widget-dropdown select").first
    expect(choice.locator("option", has_text=dataset)).to_have_count(1, timeout=30_000)
    choice.select_option(label=dataset)
