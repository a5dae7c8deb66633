"""Screenshots of each app for the README, taken with headless Debian Chromium.

    python demos/screenshots.py [--output docs/figures]

Serves the explorer on 127.0.0.1, drives each tab (attention with a sample, positions, model
graph) and writes explorer_attention.png, explorer_positions.png and explorer_graph.png.
"""

import argparse
import os
import socket

from keras_vt.apps.common import CHROMIUM_ARGS, chromium_path, sample_paths
from keras_vt.apps.explorer import build_explorer, serve


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("docs", "figures"))
    parser.add_argument("--sample", default="star")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    os.makedirs(args.output, exist_ok=True)
    blocks = serve(build_explorer(), port=free_port(), block=False, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=path, headless=True, args=list(CHROMIUM_ARGS)
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(blocks.local_url, wait_until="networkidle")
            page.locator("input[type=file]").first.set_input_files(sample_paths()[args.sample])
            page.get_by_text(f"sample_{args.sample}.png").first.wait_for(timeout=30_000)
            page.locator("#explain-button").click()
            page.locator("#status").get_by_text("attention of layer").wait_for(timeout=60_000)
            page.locator("#overlay img").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=os.path.join(args.output, "explorer_attention.png"))

            page.get_by_role("tab", name="Positions").click()
            page.locator("#positions-button").click()
            page.locator("#resampled img").wait_for(timeout=60_000)
            page.locator("#translation-button").click()
            page.locator("#translation-status").get_by_text("Pooled features").wait_for(
                timeout=60_000
            )
            page.wait_for_timeout(1500)
            page.screenshot(
                path=os.path.join(args.output, "explorer_positions.png"), full_page=True
            )

            page.get_by_role("tab", name="Model graph").click()
            page.locator("#graph-button").click()
            page.locator("#graph img").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=os.path.join(args.output, "explorer_graph.png"))
            browser.close()
    finally:
        blocks.close()
    print(f"wrote 3 screenshots to {args.output}")


if __name__ == "__main__":
    main()
