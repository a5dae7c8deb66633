import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


SLOW_LIST = os.path.join(os.path.dirname(__file__), "slow_tests.txt")


def slow_tests():
    """Node ids in tests/slow_tests.txt (a test function's id covers all its parameters)."""
    ids = set()
    with open(SLOW_LIST) as file:
        for line in file:
            line = line.split("#", 1)[0].split()
            if line:
                ids.add(line[-1])
    return ids


def pytest_collection_modifyitems(config, items):
    """Marks the tests listed in tests/slow_tests.txt `slow` (tests/run.sh leaves them to CI)."""
    slow = slow_tests()
    for item in items:
        if item.nodeid in slow or item.nodeid.split("[", 1)[0] in slow:
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (shared by the browser tests); skips with the
    reason when playwright, gradio or chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("gradio")
    from keras_vt.apps.common import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=list(CHROMIUM_ARGS)
        )
        yield browser
        browser.close()
