"""The Gradio apps: every endpoint of every app through gradio_client, safe defaults, bad input."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.single_backend

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

from keras_vt import apps  # noqa: E402
from keras_vt.apps import attention, common  # noqa: E402
from keras_vt.apps.explorer import (  # noqa: E402
    APPS,
    DEFAULT_HOST,
    add_explore_arguments,
    serve,
)

DEFAULT = "cpvt_mini (shapes)"
DEPTH, HEADS = 4, 4  # the embedded model: cpvt_mini_convstem_32_gap


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bank():
    return common.ModelBank()


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("uploads")
    paths = {"text": str(folder / "notes.txt"), "fake": str(folder / "fake.png")}
    with open(paths["text"], "w") as file:
        file.write("not an image")
    with open(paths["fake"], "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n broken")
    big = np.random.default_rng(0).integers(0, 255, size=(1500, 2400, 3), dtype="uint8")
    paths["big"] = str(folder / "big.jpg")
    Image.fromarray(big).save(paths["big"], quality=80)
    return paths


@pytest.fixture(scope="module")
def servers(bank):
    """Every app served on 127.0.0.1 at a free port: {app name: gradio_client.Client}."""
    clients, running = {}, []
    for name, build in APPS.items():
        blocks = serve(build(bank=bank), port=free_port(), block=False, quiet=True)
        running.append(blocks)
        clients[name] = gradio_client.Client(blocks.local_url, verbose=False)
        assert blocks.server_name == DEFAULT_HOST and not blocks.share
    yield clients
    for blocks in running:
        blocks.close()


def endpoints(client):
    return set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_import_keras_vt_does_not_import_gradio():
    code = "import sys, keras_vt, keras_vt.apps; assert 'gradio' not in sys.modules, 'gradio'"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=os.getcwd())


def test_embedded_model_and_samples_are_shipped(bank):
    assert bank.names() == [DEFAULT]
    manifest = common.embedded_manifests()[DEFAULT]
    assert os.path.getsize(manifest["weights_path"]) <= 10 * 2**20
    samples = common.sample_paths()
    assert len(samples) >= 5 and set(samples) <= set(manifest["class_names"])
    entry = bank.entry(DEFAULT)
    assert entry.model.num_classes == len(entry.class_names)


def test_read_image_rejects_and_downscales(image_files):
    for key in ("text", "fake"):
        with pytest.raises(common.ImageError, match="image"):
            common.read_image(image_files[key])
    image = common.read_image(image_files["big"])
    assert image.dtype == np.uint8 and max(image.shape[:2]) == common.MAX_SIDE
    with pytest.raises(common.ImageError, match="more than the 1,000,000"):
        common.read_image(image_files["big"], max_pixels=1_000_000)
    with pytest.raises(common.ImageError, match="No image"):
        common.read_image(None)


def test_model_bank_arguments(tmp_path):
    bank = common.ModelBank(model="vit_tiny_patch16_224", include_embedded=False)
    assert bank.names() == ["vit_tiny_patch16_224 (random)"]
    with pytest.raises(ValueError, match="Unknown model name"):
        common.ModelBank(model="vit_gigantic")
    with pytest.raises(ValueError, match="not found"):
        common.ModelBank(weights=str(tmp_path / "missing.keras"))
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="pass the registered model name"):
        common.ModelBank(weights=str(path))
    import keras_vt

    saved = str(tmp_path / "mine.keras")
    keras_vt.create_model("vit_mini_patch4_32", tiny=True, num_classes=4).save(saved)
    bank = common.ModelBank(weights=saved)
    assert bank.names() == ["mine.keras", DEFAULT]
    entry = bank.entry("mine.keras")
    assert entry.model.num_classes == 4 and entry.class_names == [f"class {i}" for i in range(4)]
    _, top, _, status = attention.explain(bank, "mine.keras", None, "circle", 1, "0", "rollout")
    assert len(top) == 4, status


def test_similarity_of_a_learned_position_table():
    from keras_vt.apps import positions

    bank = common.ModelBank(model="vit_mini_patch4_32", include_embedded=False)
    original, resampled, status = positions.similarity(bank, bank.names()[0], 48)
    assert original is not None and resampled is not None, status
    assert "8x8 patches" in status and "12x12 patches" in status


def test_explain_methods_directly(bank, monkeypatch):
    for method in attention.METHODS:
        # The embedded model has no class token: flow runs from all 64 tokens, within the work
        # budget once most weak edges are discarded.
        ratio = 0.9 if method == "flow" else 0.5
        picture, top5, distance, status = attention.explain(
            bank, DEFAULT, None, "circle", 3, "mean", method, ratio
        )
        assert picture.shape == (attention.DISPLAY_SIDE, attention.DISPLAY_SIDE, 3), status
        assert len(top5) == 5 and abs(sum(top5.values())) <= 1.0 + 1e-6
        assert len(distance) == DEPTH * HEADS and f"{method} attention of layer 3/{DEPTH}" in status
    _, _, _, status = attention.explain(bank, DEFAULT, None, "circle", 4, "7", "raw", 0.0)
    assert "Head 7 does not exist" in status
    monkeypatch.setattr(attention, "FLOW_WORK", {"scipy": 1e6, "networkx": 1e6})
    _, _, _, status = attention.explain(bank, DEFAULT, None, "circle", 4, "mean", "flow", 0.0)
    assert "max_work" in status and "discard_ratio" in status


def test_every_app_serves_its_endpoints(servers):
    expected = {
        "explorer": {
            "/explain",
            "/model_info",
            "/similarity",
            "/position_model",
            "/translation",
            "/graph",
            "/retrieve",
        },
        "attention": {"/explain", "/model_info"},
        "positions": {"/similarity", "/position_model", "/translation"},
        "graph": {"/graph"},
    }
    for name, client in servers.items():
        assert endpoints(client) == expected[name], name


def call(client, endpoint, *args):
    return client.predict(*args, api_name=endpoint)


def check_attention_endpoints(client, image_files):
    handle = gradio_client.handle_file
    sample = common.sample_paths()["star"]
    layers, heads = call(client, "/model_info", DEFAULT)
    assert layers["maximum"] == DEPTH
    assert [c[0] for c in heads["choices"]][3:] == [str(h) for h in range(HEADS)]
    for upload, method in ((None, "rollout"), (handle(sample), "raw"), (None, "flow")):
        picture, top5, distance, status = call(
            client, "/explain", DEFAULT, upload, "circle", DEPTH, "1", method, 0.9
        )
        assert picture and os.path.exists(picture), status
        assert len(top5["confidences"]) == 5
        assert len(distance["data"]) == DEPTH * HEADS
        assert f"{method} attention of layer {DEPTH}/{DEPTH}, head 1" in status
    for key in ("text", "fake"):
        picture, _, _, status = call(
            client, "/explain", DEFAULT, handle(image_files[key]), "circle", DEPTH, "mean", "raw", 0
        )
        assert picture is None and "Cannot explain" in status and "image" in status
    picture, _, _, status = call(
        client, "/explain", DEFAULT, handle(image_files["big"]), "circle", DEPTH, "mean", "raw", 0
    )
    assert picture and "raw attention" in status


def check_positions_endpoints(client):
    # The embedded CPVT has no position table (its PEG derives positions from the content), so
    # the learned-table section offers no model here; test_similarity_of_a_learned_position_table
    # covers that path with a ViT.
    with pytest.raises(gradio_client.exceptions.AppError, match="not in the list of choices"):
        call(client, "/similarity", DEFAULT, 48)
    curve, status = call(client, "/translation", [DEFAULT], "circle", "diagonal", "pad")
    shifts = [row[0] for row in curve["data"]]
    assert shifts == [0, 1, 2, 4, 8, 16] and curve["data"][0][1] == 0.0
    assert "diagonally" in status
    _, status = call(client, "/translation", [], "circle", "horizontal", "roll")
    assert "Pick at least one model" in status


def check_graph_endpoint(client):
    from keras_vt.viz.plotting import check_graphviz

    picture, download, status = call(client, "/graph", DEFAULT, "svg", True)
    try:
        check_graphviz()
    except ImportError:
        assert picture is None and download is None
        assert "pip install pydot" in status or "Graphviz" in status
        return
    assert picture.endswith(".png") and download.endswith(".svg") and "459,562" in status


def test_endpoint_answers(servers, image_files):
    check_attention_endpoints(servers["explorer"], image_files)
    check_attention_endpoints(servers["attention"], image_files)
    check_positions_endpoints(servers["explorer"])
    check_positions_endpoints(servers["positions"])
    check_graph_endpoint(servers["explorer"])
    check_graph_endpoint(servers["graph"])


def test_explore_command_defaults_are_safe():
    import argparse

    from keras_vt import cli

    args = add_explore_arguments(argparse.ArgumentParser()).parse_args([])
    assert (args.host, args.port, args.share, args.app) == ("127.0.0.1", None, False, "explorer")
    args = cli.build_parser().parse_args(
        ["explore", "--port", "7999", "--model", "vit_mini_patch4_32"]
    )
    assert args.func is cli.explore_command and args.port == 7999 and not args.share
    assert apps.launch.__defaults__[:1] == ("127.0.0.1",)
    with pytest.raises(ValueError, match="app='plots'"):
        apps.launch(app="plots", block=False)


def test_keras_vt_explore_serves_on_localhost():
    import time
    import urllib.request

    port = free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GRADIO_ANALYTICS_ENABLED="False")
    command = [sys.executable, "-m", "keras_vt.cli", "explore", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200 and b"keras_vt explorer" in page.read()
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("keras-vt explore did not answer within 240 s")
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert {"/explain", "/similarity", "/translation", "/graph"} <= endpoints(client)
    finally:
        server.terminate()
        server.wait(timeout=30)
