"""The Retrieval tab in a real browser (headless Debian Chromium driven by Playwright): type a
caption, search, see five animated clips, the mixture-weight chart and the attention map."""

import os
import socket

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.single_backend]

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")


@pytest.fixture(scope="module")
def app_url():
    from keras_vt.apps.explorer import serve
    from keras_vt.apps.retrieval import RetrievalDemo, build_retrieval_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blocks = serve(
        build_retrieval_app(RetrievalDemo.embedded()), port=port, block=False, quiet=True
    )
    yield blocks.local_url
    blocks.close()


def test_type_a_caption_and_see_clips(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(app_url, wait_until="networkidle")
    page.locator("#retrieval-button").wait_for(timeout=60_000)
    box = page.locator("#retrieval-caption textarea")
    box.fill("a blue circle moves right quickly beeping twice")
    page.locator("#retrieval-button").click()
    page.locator("#retrieval-status").get_by_text("Top 5 of 64 clips").wait_for(timeout=120_000)
    clips = page.locator("#retrieval-clips img")
    clips.first.wait_for(timeout=30_000)
    sources = [clips.nth(i).get_attribute("src") for i in range(clips.count())]
    assert len(sources) >= 5 and all(".gif" in s for s in sources), sources
    for chart in ("#retrieval-weights img", "#retrieval-attention img"):
        image = page.locator(chart)
        image.wait_for(timeout=30_000)
        width = image.evaluate("img => img.naturalWidth")
        assert width > 200, (chart, width)
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "explorer_retrieval.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000
    page.close()
