"""The AV Align, Captioner and Attention-in-CNNs tabs in a real browser (headless Debian
Chromium driven by Playwright, the shared fixture): open the tab, press its button, see the
pictures and the status line. Screenshots go under artifacts/ (git-ignored)."""

import os
import socket

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.single_backend]

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")
TABS = ("AV Align", "Captioner", "Attention in CNNs")


@pytest.fixture(scope="module")
def app_url():
    from keras_vt.apps.explorer import build_explorer, serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blocks = serve(build_explorer(tabs=TABS), port=port, block=False, quiet=True)
    yield blocks.local_url
    blocks.close()


def open_tab(browser, url, tab, button):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url, wait_until="networkidle")
    page.get_by_role("tab", name=tab).click()
    page.locator(button).wait_for(timeout=60_000)
    page.locator(button).click()
    return page


def natural_width(page, selector):
    image = page.locator(selector).first
    image.wait_for(timeout=60_000)
    return image.evaluate("img => img.naturalWidth")


def screenshot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000
    page.close()


def test_av_align_tab(browser, app_url):
    page = open_tab(browser, app_url, "AV Align", "#av-button")
    page.locator("#av-status").get_by_text("video frames").wait_for(timeout=120_000)
    assert "True symbols" in page.locator("#av-predictions").inner_text()
    assert natural_width(page, "#av-alignment img") > 300
    assert natural_width(page, "#av-mouth img") > 0
    screenshot(page, "explorer_av_align.png")


def test_captioner_tab(browser, app_url):
    page = open_tab(browser, app_url, "Captioner", "#caption-button")
    page.locator("#caption-status").get_by_text("feature grid").wait_for(timeout=120_000)
    assert "Caption:" in page.locator("#caption-text").inner_text()
    words = page.locator("#caption-words img")
    words.first.wait_for(timeout=30_000)
    assert words.count() >= 1
    screenshot(page, "explorer_captioner.png")


def test_attention_in_cnns_tab(browser, app_url):
    page = open_tab(browser, app_url, "Attention in CNNs", "#cnn-button")
    page.locator("#cnn-status").get_by_text("attention maps, in depth order").wait_for(
        timeout=120_000
    )
    maps = page.locator("#cnn-maps img")
    maps.first.wait_for(timeout=30_000)
    assert maps.count() == 3  # aa_resnet26 (tiny): one AA-conv map per stage
    screenshot(page, "explorer_cnn_attention.png")
