"""keras_vt.viz against small hand-computed cases."""

import os
import sys

import keras
import numpy as np
import pytest

import keras_vt
from keras_vt import viz


def one_head(*rows):
    return np.asarray(rows, dtype="float32")[None, None]


# The two-layer, two-token example worked by hand (one head):
# Ã1 = rownorm(A1 + I) = [[.75, .25], [0, 1]], Ã2 = rownorm(A2 + I) = [[1, 0], [.25, .75]].
A1 = one_head([0.5, 0.5], [0.0, 1.0])
A2 = one_head([1.0, 0.0], [0.5, 0.5])


def test_rollout_of_identity_is_identity():
    maps = [np.eye(5, dtype="float32")[None, None].repeat(3, axis=1) for _ in range(4)]
    np.testing.assert_allclose(viz.attention_rollout(maps)[0], np.eye(5), atol=1e-6)


def test_rollout_two_layers_by_hand():
    joint = viz.attention_rollout([A1, A2])
    # R = Ã2 Ã1 = [[.75, .25], [.25 * .75, .25 * .25 + .75]]
    np.testing.assert_allclose(joint[0], [[0.75, 0.25], [0.1875, 0.8125]], atol=1e-6)
    assert joint.shape == (1, 2, 2) and joint.dtype == np.float32
    np.testing.assert_allclose(viz.attention_rollout([A1, A2], output_tokens=[1])[0], [joint[0, 1]])


def test_rollout_rows_sum_to_one():
    rng = np.random.default_rng(0)
    maps = [rng.dirichlet(np.ones(6), size=(2, 3, 6)) for _ in range(3)]
    for fusion in ("mean", "max", "min"):
        joint = viz.attention_rollout(maps, head_fusion=fusion, discard_ratio=0.5)
        np.testing.assert_allclose(joint.sum(-1), 1.0, atol=1e-5)
        rows = viz.attention_rollout(maps, fusion, 0.5, output_tokens=[0, 4])
        np.testing.assert_allclose(rows, joint[:, [0, 4]], atol=1e-6)


def test_head_fusion():
    maps = np.asarray([[[[0.2, 0.8]], [[0.6, 0.4]]]])
    np.testing.assert_allclose(viz.fuse_heads(maps, "mean"), [[[0.4, 0.6]]])
    np.testing.assert_allclose(viz.fuse_heads(maps, "max"), [[[0.6, 0.8]]])
    np.testing.assert_allclose(viz.fuse_heads(maps, "min"), [[[0.2, 0.4]]])
    with pytest.raises(ValueError, match="head_fusion='median'"):
        viz.attention_rollout([np.full((1, 1, 2, 2), 0.5)], head_fusion="median")


def test_discard_never_touches_the_class_column():
    attention = one_head([0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.05, 0.05, 0.9])
    # Non-class weights: .2 .7 / .3 .1 / .05 .9; half of them (the lowest 3: .05 .1 .2) dropped.
    (layer,) = viz.residual_attention([attention], discard_ratio=0.5)
    kept = np.asarray([[0.1, 0.0, 0.7], [0.6, 0.3, 0.0], [0.05, 0.0, 0.9]]) + np.eye(3)
    np.testing.assert_allclose(layer[0], kept / kept.sum(-1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError, match="discard_ratio"):
        viz.attention_rollout([attention], discard_ratio=1.0)


def test_flow_two_layers_by_hand():
    flow = viz.attention_flow([A1, A2])
    # From output 0: 0 -> 0 -> {0: .75, 1: .25}. From output 1 the flows are .25 to input 0
    # (through token 0 of layer 1, capacity .25) and .25 + .75 = 1 to input 1; normalised.
    np.testing.assert_allclose(flow[0], [[0.75, 0.25], [0.2, 0.8]], atol=1e-6)
    class_only = viz.attention_flow([A1, A2], output_tokens=[1])
    np.testing.assert_allclose(class_only[0], [[0.2, 0.8]], atol=1e-6)


def test_flow_solvers_agree():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    maps = [rng.dirichlet(np.ones(7), size=(2, 2, 7)) for _ in range(3)]
    exact = viz.attention_flow(maps, discard_ratio=0.3, output_tokens=[0, 3])
    fast = viz.attention_flow(maps, discard_ratio=0.3, output_tokens=[0, 3], solver="scipy")
    np.testing.assert_allclose(fast, exact, atol=1e-5)
    np.testing.assert_allclose(
        viz.attention_flow([A1, A2], solver="scipy")[0], [[0.75, 0.25], [0.2, 0.8]], atol=1e-5
    )
    with pytest.raises(ValueError, match="solver='igraph'"):
        viz.attention_flow(maps, solver="igraph")


def test_flow_size_limit_says_what_to_do():
    maps = [np.full((1, 2, 8, 8), 1 / 8, "float32")] * 3
    with pytest.raises(ValueError, match="max_work.*output_tokens"):
        viz.attention_flow(maps, max_work=1e4)
    with pytest.raises(ValueError, match="output_tokens"):
        viz.attention_flow(maps, output_tokens=[8])


def test_joint_attention_needs_same_tokens():
    with pytest.raises(ValueError, match="same batch and number of tokens"):
        viz.attention_rollout([np.full((1, 1, 3, 3), 1 / 3), np.full((1, 1, 2, 2), 0.5)])
    with pytest.raises(ValueError, match="queries but 2 keys"):
        viz.attention_rollout([np.full((1, 1, 3, 2), 0.5)])
    with pytest.raises(ValueError, match="non-empty list"):
        viz.attention_rollout([])


def test_attention_grid():
    joint = np.zeros((1, 5, 5))
    joint[0, 0] = [0.2, 0.1, 0.2, 0.3, 0.2]  # class row: class, then a 2x2 grid
    grid = viz.attention_grid(joint, (2, 2), normalize=False)
    np.testing.assert_allclose(grid[0], [[0.1, 0.2], [0.3, 0.2]])
    np.testing.assert_allclose(viz.attention_grid(joint, (2, 2))[0], [[0, 0.5], [1, 0.5]])
    per_head = viz.attention_grid(np.ones((2, 3, 5, 5)) / 5, (2, 2), normalize=False)
    assert per_head.shape == (2, 3, 2, 2)
    no_class = np.arange(16, dtype="float64").reshape(1, 4, 4)
    mean = viz.attention_grid(no_class, (2, 2), query="mean", normalize=False)
    np.testing.assert_allclose(mean[0].ravel(), no_class[0].mean(0))
    with pytest.raises(ValueError, match="does not fit grid"):
        viz.attention_grid(joint, (3, 3))


def one_hot_maps(targets, grid, prefix=1):
    """(1, heads, tokens, tokens) maps where head h sends query i to key targets[h](i)."""
    tokens = prefix + grid[0] * grid[1]
    maps = np.zeros((1, len(targets), tokens, tokens), "float32")
    for head, target in enumerate(targets):
        for query in range(tokens):
            maps[0, head, query, target(query)] = 1.0
    return maps


def test_mean_attention_distance_of_one_hot_maps():
    maps = one_hot_maps([lambda q: q, lambda q: 1, lambda q: 0], grid=(2, 2))
    distance = viz.mean_attention_distance([maps, maps], grid=(2, 2), patch_size=16)
    # Head 0 attends to itself (0 px); head 1 to patch (0, 0): 0, 16, 16 and 16 * sqrt(2) px
    # from the four queries; head 2 to the class token, which is dropped (0).
    expected = [0.0, (0 + 16 + 16 + 16 * np.sqrt(2)) / 4, 0.0]
    np.testing.assert_allclose(distance, [expected, expected], rtol=1e-6)
    assert distance.shape == (2, 3)


def test_mean_attention_distance_per_layer_grids_and_strided_keys():
    # A CvT-like layer: 4x4 queries, keys subsampled by 2 (2x2), no prefix token.
    maps = np.zeros((1, 1, 16, 4), "float32")
    maps[..., 0] = 1.0  # every query attends to the key at patch (0, 0)
    flat = one_hot_maps([lambda q: q], grid=(1, 2), prefix=0)
    distance = viz.mean_attention_distance([maps, flat], grid=[(4, 4), (1, 2)], patch_size=[4, 8])
    y, x = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    np.testing.assert_allclose(distance[0, 0], 4 * np.mean(np.hypot(y, x)), rtol=1e-6)
    assert distance[1, 0] == 0.0
    with pytest.raises(ValueError, match="one per layer"):
        viz.mean_attention_distance([maps, flat], grid=[(4, 4)], patch_size=4)
    with pytest.raises(ValueError, match="does not fit grid"):
        viz.mean_attention_distance([maps], grid=(3, 3), patch_size=4)


def test_position_similarity_by_hand():
    table = np.asarray([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [-3.0, 0.0]]])
    similarity = viz.position_similarity(table)
    assert similarity.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(similarity[0, 0], [[1, 0], [np.sqrt(0.5), -1]], atol=1e-6)
    np.testing.assert_allclose(similarity[1, 0, 0, 1], np.sqrt(0.5), atol=1e-6)


def tiny_vit(**overrides):
    config = dict(tiny=True, num_classes=3, image_size=16, patch_size=4)
    config.update(overrides)
    return keras_vt.create_model("vit_tiny_patch16_224", **config)


def test_position_similarity_of_a_model():
    model = tiny_vit()
    similarity = viz.position_similarity(model)
    assert similarity.shape == (4, 4, 4, 4)
    diagonal = [similarity[i, j, i, j] for i in range(4) for j in range(4)]
    np.testing.assert_allclose(diagonal, 1.0, atol=1e-5)
    np.testing.assert_allclose(similarity, similarity.transpose(2, 3, 0, 1), atol=1e-6)


def test_models_without_a_position_table():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs), name="plain")
    with pytest.raises(ValueError, match="no position table.*translation_probe"):
        viz.position_similarity(model)
    with pytest.raises(ValueError, match="no attention layers"):
        viz.attention_maps(model, np.zeros((1, 8, 8, 3)))


def test_resampled_positions():
    model = tiny_vit()
    same = viz.resampled_positions(model, 16)
    layer = viz.position_layer(model)
    table = keras.ops.convert_to_numpy(layer.embeddings)[0, 1:].reshape(4, 4, -1)
    np.testing.assert_allclose(same, table, atol=1e-6)
    larger = viz.resampled_positions(model, (24, 32))
    assert larger.shape == (6, 8, table.shape[-1])
    np.testing.assert_allclose(larger.reshape(48, -1), layer.resampled((6, 8))[0, 1:], atol=1e-6)
    with pytest.raises(ValueError, match="not divisible by patch_size=4"):
        viz.resampled_positions(model, 18)


def test_shift_images():
    images = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    rolled = viz.shift_images(images, 1)
    np.testing.assert_array_equal(rolled[0, :, :, 0], np.roll(images[0, :, :, 0], 1, axis=1))
    padded = viz.shift_images(images, 2, direction="diagonal", mode="pad")
    expected = np.zeros((4, 4))
    expected[2:, 2:] = images[0, :2, :2, 0]
    np.testing.assert_array_equal(padded[0, :, :, 0], expected)
    with pytest.raises(ValueError, match="direction='up'"):
        viz.shift_images(images, 1, direction="up")


def test_translation_probe_learned_positions_versus_shift_invariant_model():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    vit = tiny_vit()
    viz.position_layer(vit).embeddings.assign(rng.normal(size=(1, 17, 32)).astype("float32"))
    probe = viz.translation_probe(vit, images, shifts=(4, 8))
    np.testing.assert_array_equal(probe["shifts"], [0, 4, 8])
    assert probe["feature_change"][0] == 0 and probe["prediction_agreement"][0] == 1
    assert probe["feature_change"][1] > 0.05
    # A 1x1 convolution and global pooling cannot see where things are: rolls change nothing.
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 1)(inputs))
    invariant = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    probe = viz.translation_probe(invariant, images, shifts=(1, 4, 8), direction="diagonal")
    np.testing.assert_allclose(probe["feature_change"], 0.0, atol=1e-5)
    np.testing.assert_allclose(probe["feature_similarity"], 1.0, atol=1e-5)
    np.testing.assert_array_equal(probe["prediction_agreement"], 1.0)


def test_attention_maps_batches_and_outputs():
    model = tiny_vit()
    images = np.random.default_rng(1).normal(size=(3, 16, 16, 3)).astype("float32")
    logits, maps = viz.attention_maps(model, images, return_outputs=True)
    assert len(maps) == 2 and maps[0].shape == (3, 2, 17, 17)
    np.testing.assert_allclose(maps[1].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(model(images)), atol=1e-4)
    chunked = viz.attention_maps(model, images, batch_size=2)
    for full, part in zip(maps, chunked):
        np.testing.assert_allclose(full, part, atol=1e-5)
    with pytest.raises(ValueError, match="rank 4"):
        viz.attention_maps(model, images[0])
    with pytest.raises(ValueError, match="batch_size"):
        viz.attention_maps(model, images, batch_size=0)


def test_attention_maps_are_the_softmax_of_the_blocks_own_queries_and_keys():
    """The first block's map, recomputed in numpy from the block's input tokens and its own
    LayerNorm and q/k weights. The q/k kernel is enlarged so that the map is far from uniform:
    a uniform map, or one not computed from this block's weights, fails."""
    model = tiny_vit()
    block = model.get_layer("block0")
    rng = np.random.default_rng(2)
    kernel = block.attention.qkv.kernel
    kernel.assign(rng.normal(scale=0.5, size=kernel.shape).astype("float32"))
    images = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    tokens = keras.ops.convert_to_numpy(keras.Model(model.input, block.input)(images))
    maps = viz.attention_maps(model, images)
    norm, attention = block.norm1, block.attention
    weights = {w.path.split("/", 1)[1]: keras.ops.convert_to_numpy(w) for w in block.weights}
    mean, var = tokens.mean(-1, keepdims=True), tokens.var(-1, keepdims=True)
    x = (tokens - mean) / np.sqrt(var + norm.epsilon) * weights["norm1/gamma"]
    x = x + weights["norm1/beta"]
    qkv = x @ weights["attention/qkv/kernel"] + weights["attention/qkv/bias"]
    qkv = qkv.reshape(*tokens.shape[:2], 3, attention.num_heads, attention.head_dim)
    query, key = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in (0, 1))
    logits = query @ key.transpose(0, 1, 3, 2) / np.sqrt(attention.head_dim)
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    assert np.abs(want - 1.0 / want.shape[-1]).max() > 0.1  # far from uniform
    np.testing.assert_allclose(maps[0], want, atol=1e-5)


def test_attention_maps_leave_the_model_saveable(tmp_path):
    model = tiny_vit()
    images = np.zeros((1, 16, 16, 3), "float32")
    viz.attention_maps(model, images)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert len(restored.weights) == len(model.weights)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(images)),
        keras.ops.convert_to_numpy(model(images)),
        atol=1e-5,
    )


def test_overlay_and_upsample():
    image = np.full((8, 8, 3), 100, "uint8")
    heat = np.asarray([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(viz.overlay(image, heat, alpha=0.0), image)
    full = viz.overlay(image, heat, alpha=1.0, cmap="gray")
    assert full.shape == (8, 8, 3) and full.dtype == np.uint8
    assert full[0, 0, 0] == 0 and full[0, 7, 0] == 255
    np.testing.assert_allclose(viz.upsample(np.full((2, 3), 0.5), (6, 9)), 0.5)
    assert viz.overlay(np.zeros((8, 8, 3), "float32"), heat).dtype == np.uint8
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(image, heat, alpha=2)


def test_similarity_mosaic():
    similarity = viz.position_similarity(np.eye(4).reshape(2, 2, 4))
    mosaic = viz.similarity_mosaic(similarity, cell=3, gap=1)
    assert mosaic.shape == (2 * (6 + 1) + 1,) * 2 + (3,)
    assert (mosaic[0] == 255).all()


def test_matplotlib_figures():
    import matplotlib

    matplotlib.use("Agg")
    figures = [
        viz.plot_position_similarity(np.ones((2, 2, 2, 2))),
        viz.plot_attention_distance(np.ones((3, 2)), image_size=32),
        viz.plot_translation({"a": {"shifts": np.arange(3), "feature_change": np.zeros(3)}}),
    ]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figures)


def test_plot_model_graph(tmp_path):
    model = tiny_vit()
    with pytest.raises(ValueError, match=r"\.png"):
        viz.plot_model_graph(model, str(tmp_path / "graph.pdf"))
    try:
        viz.plotting.check_graphviz()
    except ImportError:
        pytest.skip("pydot or Graphviz is not installed")
    for extension, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        path = viz.plot_model_graph(model, str(tmp_path / f"graph{extension}"))
        with open(path, "rb") as file:
            assert file.read(5).startswith(magic)
        assert os.path.getsize(path) > 1000


def test_plot_model_graph_without_pydot(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match="pip install pydot"):
        viz.plot_model_graph(tiny_vit(), str(tmp_path / "graph.png"))


def test_clip_image_tower():
    if not keras_vt.list_models("clip_vit_b32"):
        pytest.skip("CLIP is not registered")
    tower = keras_vt.create_model("clip_vit_b32", tiny=True).image_encoder
    maps = viz.attention_maps(tower, np.zeros((1, 32, 32, 3), "float32"))
    assert len(maps) == 2 and maps[0].shape == (1, 2, 5, 5)
    np.testing.assert_allclose(viz.attention_rollout(maps).sum(-1), 1.0, atol=1e-5)
    assert viz.position_similarity(tower).shape == (2, 2, 2, 2)


def test_plot_alignment_draws_the_true_alignment_and_the_argmax():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alignment = np.full((6, 4), 0.1, "float32")
    alignment[np.arange(6), [0, 0, 1, 2, 3, 3]] = 0.7
    true = np.array([0, 0, 1, 1, 2, 3])
    figure = viz.plot_alignment(alignment, true)
    dashed, dots = figure.axes[0].get_lines()
    np.testing.assert_array_equal(dashed.get_xdata(), true)
    np.testing.assert_array_equal(dots.get_xdata(), [0, 0, 1, 2, 3, 3])
    plt.close(figure)
    with pytest.raises(
        ValueError,
        match=r"Invalid alignment: got shape \(6,\)\. Expected alignment of shape \(audio frames, video frames\)",
    ):
        viz.plot_alignment(np.ones(6))
