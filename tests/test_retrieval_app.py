"""The Retrieval tab (MMT) through its Gradio endpoint, called with gradio_client."""

import socket

import numpy as np
import pytest

pytestmark = pytest.mark.single_backend


@pytest.fixture(scope="module")
def demo():
    from keras_vt.apps.retrieval import RetrievalDemo

    return RetrievalDemo.embedded()


@pytest.fixture(scope="module")
def app_url(demo):
    pytest.importorskip("gradio")
    from keras_vt.apps.explorer import serve
    from keras_vt.apps.retrieval import build_retrieval_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blocks = serve(build_retrieval_app(demo), port=port, block=False, quiet=True)
    yield blocks.local_url
    blocks.close()


def test_search_ranks_and_explains(demo):
    found = demo.search(demo.captions[3])
    scores = np.asarray(found["scores"])
    assert len(found["clips"]) == 5 and (np.diff(scores) <= 0).all()
    np.testing.assert_allclose(np.sum(found["weights"]), 1.0, atol=1e-5)
    attention = found["attention"]
    assert attention.shape == (len(demo.experts) + 1,) * 2
    rows = ~np.isnan(attention).any(axis=1)
    np.testing.assert_allclose(attention[rows].sum(axis=1), 1.0, atol=1e-4)
    # a clip's missing experts have no row (their tokens are all masked)
    best = int(found["clips"][0])
    missing = [not demo.inputs[f"{e}_mask"][best].any() for e in demo.experts]
    np.testing.assert_array_equal(~rows[1:], missing)


def test_shipped_model_retrieves_better_than_chance(demo):
    """The embedded weights were trained: R@5 on the 64 held-out clips beats chance (5/64)."""
    hits = [i in demo.search(c)["clips"] for i, c in enumerate(demo.captions)]
    assert np.mean(hits) > 2 * 5 / len(demo.captions), np.mean(hits)


def test_endpoint_returns_gifs_charts_and_status(demo, app_url):
    from gradio_client import Client
    from PIL import Image

    client = Client(app_url, verbose=False)
    caption = demo.captions[5]
    gallery, weights, attention, status = client.predict(caption, api_name="/retrieve")
    assert len(gallery) == 5, gallery
    for item in gallery:
        path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
        with Image.open(path) as gif:
            assert gif.format == "GIF" and gif.n_frames == demo.frames.shape[1]
    top = int(demo.search(caption)["clips"][0])
    assert demo.captions[top] in gallery[0]["caption"]
    for chart in (weights, attention):
        with Image.open(chart) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert "Top 5 of 64 clips" in status and "Mixture weights" in status
    _, _, _, error = client.predict("x " * 40, api_name="/retrieve")
    assert "more than context_length" in error
