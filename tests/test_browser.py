"""The explorer in a real browser: headless Debian Chromium driven by Playwright.

Needs `chromium` (apt-get install chromium; .ci/run installs it) and the playwright Python
package; Playwright's own browser downloads are never used. The screenshot is saved under
artifacts/ (git-ignored).
"""

import os
import socket

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.single_backend]

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")


@pytest.fixture(scope="module")
def explorer_url():
    from keras_vt.apps.explorer import build_explorer, serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blocks = serve(build_explorer(), port=port, block=False, quiet=True)
    yield blocks.local_url
    blocks.close()


def upload(page, path, attempts=3):
    """Sets the file input until the app shows the file's name (Gradio may split off the
    extension into its own element, so the stem is what is looked for).

    On a loaded machine the input can be set before Gradio's front end has attached its
    handlers, and that upload is dropped; the app is ready once the button is visible. Once an
    upload is accepted, gr.File replaces its input with the file's preview, so the input is set
    again only while it is still there (a slow upload is waited for, never repeated).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator("#explain-button").wait_for(timeout=60_000)
    name = os.path.basename(path)
    shown = page.get_by_text(os.path.splitext(name)[0]).first
    for attempt in range(attempts):
        file_input = page.locator("input[type=file]")
        if file_input.count():
            file_input.first.set_input_files(path)
        try:
            shown.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise AssertionError(
                    f"{name} never appeared after {attempts} uploads; page text:\n"
                    + page.locator("body").inner_text()[:2000]
                ) from None


def test_explorer_upload_explain_and_screenshot(browser, explorer_url):
    from keras_vt.apps.common import sample_paths

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(explorer_url, wait_until="networkidle")
    upload(page, sample_paths()["star"])
    page.get_by_role("radio", name="raw").check()
    page.locator("#explain-button").click()
    status = page.locator("#status")
    status.get_by_text("raw attention of layer 4/4").wait_for(timeout=60_000)
    overlay = page.locator("#overlay img")
    overlay.wait_for(timeout=30_000)
    size = overlay.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [320, 320]
    top5 = page.locator("#top5").inner_text()
    from keras_vt.apps.common import embedded_manifests

    names = next(iter(embedded_manifests().values()))["class_names"]
    assert any(name in top5 for name in names), top5
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "explorer_attention.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000
    page.close()
