"""The Gradio apps: every endpoint of every app through gradio_client, safe defaults, bad input."""

import os
import socket
import subprocess
import sys
import time

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
            "/av_align",
            "/caption",
            "/cnn_attention",
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
    assert "Expected at least one model" in status


def check_graph_endpoint(client, weights):
    from keras_vt.viz.plotting import check_graphviz

    picture, download, status = call(client, "/graph", DEFAULT, "svg", True)
    try:
        check_graphviz()
    except ImportError:
        assert picture is None and download is None
        assert "pip install pydot" in status or "Graphviz" in status
        return
    assert (
        picture.endswith(".png") and download.endswith(".svg") and f"{weights:,} weights" in status
    )


def test_graph_success_path_with_the_drawing_stubbed(bank, monkeypatch, tmp_path):
    """What the graph view returns when the drawing succeeds, run whether or not Graphviz is
    installed: the drawing is replaced by a stub that writes the file (with Graphviz,
    `test_endpoint_answers` also draws for real)."""
    from keras_vt.apps import graph

    drawn = []

    def draw(model, path, expand_nested=False, **kwargs):
        drawn.append((path, expand_nested))
        with open(path, "wb") as file:
            file.write(b"stub")
        return path

    monkeypatch.setattr(graph.viz, "plot_model_graph", draw)
    model = bank.get(DEFAULT)
    picture, download, status = graph.model_graph(bank, DEFAULT, "svg", True, str(tmp_path))
    assert picture.endswith("_nested.png") and download.endswith("_nested.svg")
    assert drawn == [(picture, True), (download, True)]
    assert status == (
        f"**{DEFAULT}**: {len(model.layers)} top-level layers, {model.count_params():,} weights."
    )
    picture, download, _ = graph.model_graph(bank, DEFAULT, "png", False, str(tmp_path))
    assert download == picture and picture.endswith(".png") and drawn[-1] == (picture, False)


def test_endpoint_answers(servers, image_files, bank):
    check_attention_endpoints(servers["explorer"], image_files)
    check_attention_endpoints(servers["attention"], image_files)
    check_positions_endpoints(servers["explorer"])
    check_positions_endpoints(servers["positions"])
    weights = bank.entry(DEFAULT).model.count_params()
    check_graph_endpoint(servers["explorer"], weights)
    check_graph_endpoint(servers["graph"], weights)


def test_new_tab_endpoints(servers, image_files, tmp_path):
    """AV Align, Captioner and Attention in CNNs answer through gradio_client; bad uploads come
    back as messages."""
    from keras_vt.apps import av_align, captioner

    handle, client = gradio_client.handle_file, servers["explorer"]
    figure, mouth, predictions, status = call(client, "/av_align", 2, 0, False, None, None)
    assert os.path.exists(figure) and mouth.endswith(".gif"), status
    assert "SNR 0 dB" in status and "True symbols" in predictions
    assert ("untrained" in status) != os.path.exists(av_align.MANIFEST)
    audio, video = str(tmp_path / "audio.npy"), str(tmp_path / "video.npy")
    np.save(audio, np.random.default_rng(0).random((30, 32), "float32"))
    np.save(video, np.random.default_rng(1).random((22, 16, 16), "float32"))
    figure, _, predictions, status = call(
        client, "/av_align", 0, 5, False, handle(audio), handle(video)
    )
    assert figure and "your arrays" in status and "True symbols" not in predictions
    figure, _, _, status = call(
        client, "/av_align", 0, 5, False, handle(image_files["text"]), handle(video)
    )
    assert figure is None and "Cannot align" in status and "not a .npy" in status
    words, text, status = call(client, "/caption", None, captioner.held_out_samples(32)[1][0])
    assert words and "Reference" in text and "feature grid" in status, status
    assert ("untrained" in status) != os.path.exists(captioner.CAPTIONER_MANIFEST)
    words, _, status = call(client, "/caption", handle(image_files["fake"]), None)
    assert words == [] and "Cannot caption" in status
    maps, status = call(client, "/cnn_attention", "nonlocal_resnet50", None, "star")
    assert len(maps) == 2 and "nonlocal_resnet50" in status and "random" in status
    maps, status = call(
        client, "/cnn_attention", "axial_resnet26s", handle(image_files["text"]), None
    )
    assert maps == [] and "Cannot show maps" in status


def test_tabs_say_when_weights_are_random():
    from keras_vt.apps import av_align, captioner

    demo = captioner.CaptionerDemo(manifest=None)
    words, _, status = captioner.caption_image(demo, None, demo.samples[0][0])
    assert len(words) >= 1 and "random (untrained) weights" in status
    demo = av_align.AVDemo(manifest=None)
    figure, _, _, status = av_align.align(demo, 1, -5, False)
    assert figure and "SNR -5 dB" in status and "random (untrained) weights" in status
    _, _, _, status = av_align.align(demo, 1, 99, False)
    assert "Invalid snr_db: snr_db=99.0. Expected snr_db in [-10, 30] dB" in status


def test_fifty_concurrent_requests_none_lost(servers, image_files, tmp_path):
    """Issue 14: 50 concurrent gradio_client requests against a loopback explorer, none lost,
    p95 latency printed; an image of too many pixels and a non-image answered with a message."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    client, samples = servers["attention"], sorted(common.sample_paths())

    def request(i):
        start = time.perf_counter()
        picture, _, _, status = call(
            client, "/explain", DEFAULT, None, samples[i % len(samples)], 1, "mean", "raw", 0.0
        )
        return time.perf_counter() - start, picture, status

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(request, range(50)))
    lost = [status for _, picture, status in results if not (picture and os.path.exists(picture))]
    assert lost == [], lost[:3]
    seconds = np.array([r[0] for r in results])
    p50, p95 = np.percentile(seconds, [50, 95])
    print(
        f"\n50 concurrent /explain requests: 0 lost, p50 {p50:.2f} s, p95 {p95:.2f} s, "
        f"max {seconds.max():.2f} s (load average {os.getloadavg()[0]:.1f})"
    )
    huge = str(tmp_path / "huge.png")
    Image.new("1", (8000, 6000)).save(huge)  # 48 M pixels in a small file
    handle = gradio_client.handle_file
    for path, message in ((huge, "more than the 40,000,000"), (image_files["text"], "image")):
        picture, _, _, status = call(
            client, "/explain", DEFAULT, handle(path), "circle", 1, "mean", "raw", 0
        )
        assert picture is None and "Cannot explain" in status and message in status, status


def test_queue_is_bounded_and_uploads_capped(tmp_path):
    """Waiting requests beyond max_queue are refused at once, uploads over max_file_size are
    refused, and the server keeps answering afterwards."""
    import gradio as gr

    def slow(path):
        time.sleep(0.5)
        return os.path.basename(path) if path else "none"

    with gr.Blocks() as blocks:
        upload, answer = gr.File(type="filepath"), gr.Textbox()
        gr.Button().click(slow, upload, answer, api_name="slow")
    serve(blocks, port=free_port(), block=False, quiet=True, max_queue=2, max_file_size="20kb")
    try:
        client = gradio_client.Client(blocks.local_url, verbose=False)
        jobs = [client.submit(None, api_name="/slow") for _ in range(8)]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(job.result(timeout=60))
            except Exception as error:  # gradio_client raises its own error types
                outcomes.append(f"refused: {error}")
        refused = [o for o in outcomes if o.startswith("refused")]
        assert refused and "none" in outcomes, outcomes
        assert all("queue is full" in o.lower() for o in refused), refused
        small, large = tmp_path / "small.txt", tmp_path / "large.txt"
        small.write_bytes(b"x" * 1_000)
        large.write_bytes(b"x" * 50_000)
        assert call(client, "/slow", gradio_client.handle_file(str(small))) == "small.txt"
        with pytest.raises(Exception, match="(?i)size|large"):
            call(client, "/slow", gradio_client.handle_file(str(large)))
        assert call(client, "/slow", None) == "none"
    finally:
        blocks.close()


def test_explore_command_defaults_are_safe():
    import argparse

    from keras_vt import cli

    args = add_explore_arguments(argparse.ArgumentParser()).parse_args([])
    assert (args.host, args.port, args.share, args.app) == ("127.0.0.1", None, False, "explorer")
    assert args.max_queue == 64 and args.weights is None
    args = add_explore_arguments(argparse.ArgumentParser()).parse_args(
        ["--weights", "hf://org/name@main", "--max-queue", "8"]
    )
    assert (args.weights, args.max_queue) == ("hf://org/name@main", 8)
    with pytest.raises(ValueError, match="max_queue=0"):
        serve(None, max_queue=0)
    args = cli.build_parser().parse_args(
        ["explore", "--port", "7999", "--model", "vit_mini_patch4_32"]
    )
    assert args.func is cli.explore_command and args.port == 7999 and not args.share
    assert apps.launch.__defaults__[:1] == ("127.0.0.1",)
    with pytest.raises(ValueError, match="app='plots'"):
        apps.launch(app="plots", block=False)


def test_keras_vt_explore_serves_on_localhost():
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
