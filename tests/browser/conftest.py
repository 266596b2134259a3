import os
import time

import pytest

from tests.conftest import CHROMIUM
from tests.helpers.browser import PATIENCE_MS

# Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures and
# assertions are still plain synchronous code, so Django's async-safety guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Flags for a sandboxed root session on a machine without outside network (see README).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


# One chromium per test module, not per session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and a later test of another module on the same xdist worker that calls `asyncio.run` (a webhook
# sent, webhook_transport.post) would fail with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PATIENCE_MS)  # global: every page's assertions, those of pages a test opens too
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        new_context = browser.new_context
        browser.new_context = lambda *args, **kwargs: _closed_after_its_requests(new_context(*args, **kwargs))
        yield browser
        browser.close()


def _closed_after_its_requests(context):
    """The context, whose close first lets the requests it has in flight finish (10 s at most). A request a page sent
    last (a label sent as the test ends, a lease renewal) may still be served by the live server, and the database is
    flushed for the next test right after: the flush and that request then fail each other (CI, stop 43: "couldn't
    be flushed", then a duplicate project in the next test). Every context a test opens closes so, its own too."""
    in_flight = set()
    context.on("request", lambda request: in_flight.add(request))
    context.on("requestfinished", lambda request: in_flight.discard(request))
    context.on("requestfailed", lambda request: in_flight.discard(request))
    close = context.close

    def close_after_its_requests(*args, **kwargs):
        deadline = time.monotonic() + 10
        while in_flight and context.pages and time.monotonic() < deadline:
            context.pages[0].wait_for_timeout(50)  # lets Playwright deliver the requests' events
        close(*args, **kwargs)

    context.close = close_after_its_requests
    return context


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(PATIENCE_MS)
    yield page
    context.close()
