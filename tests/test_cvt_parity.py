"""Numerical parity with Hugging Face's CvtForImageClassification (PyTorch, small random config)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from keras_vt.convert import convert_hf_cvt, load_hf_cvt_weights  # noqa: E402
from keras_vt.models import CvT  # noqa: E402

from model_case import to_numpy  # noqa: E402


def hf_model(seed=0):
    torch.manual_seed(seed)
    config = transformers.CvtConfig(
        embed_dim=[16, 32, 48],
        num_heads=[1, 2, 3],
        depth=[1, 2, 3],  # HF indexes its drop-path rates by stage: depth[s] > s
        num_labels=5,
    )
    model = transformers.CvtForImageClassification(config).eval()
    # Non-trivial BatchNorm statistics and affine parameters, so that their mapping is tested.
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.running_mean.copy_(0.2 * torch.randn(shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
                module.weight.copy_(1 + 0.2 * torch.randn(shape, generator=generator))
                module.bias.copy_(0.2 * torch.randn(shape, generator=generator))
    return model


def hf_forward(model, images):
    """Logits and the attention probabilities of every layer (read by hooks on attention dropout)."""
    probs = []
    hooks = [
        layer.attention.attention.dropout.register_forward_hook(
            lambda module, args, output: probs.append(output.detach().numpy())
        )
        for stage in model.cvt.encoder.stages
        for layer in stage.layers
    ]
    with torch.no_grad():
        logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits.numpy()
    for hook in hooks:
        hook.remove()
    return logits, probs


# Only the class-token configuration: Hugging Face's CvtForImageClassification fails without a
# class token in the last stage (it indexes `outputs[1]`, which is then absent).
@pytest.mark.parametrize("size", [32, 48, 64])
def test_logits_and_attention_match_hugging_face(size):
    import keras_vt

    reference = hf_model()
    model = convert_hf_cvt(reference)
    images = np.random.default_rng(size).normal(size=(2, size, size, 3)).astype("float32")
    logits, hf_probs = hf_forward(reference, images)
    np.testing.assert_allclose(to_numpy(model(images)), logits, atol=1e-4, rtol=1e-4)
    maps = keras_vt.viz.attention_maps(model, images)
    assert len(maps) == len(hf_probs) == 6
    for ours, theirs in zip(maps, hf_probs):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_converter_reports_missing_extra_and_mismatched_keys():
    reference = hf_model()
    state = dict(reference.state_dict())
    state.pop("classifier.bias")
    state["cvt.encoder.stages.0.extra.weight"] = torch.zeros(3)
    state["layernorm.weight"] = torch.zeros(7)
    model = CvT(
        embed_dims=(16, 32, 48), num_heads=(1, 2, 3), depths=(1, 2, 3), num_classes=5,
        activation="gelu",
    )
    with pytest.raises(ValueError) as error:
        load_hf_cvt_weights(model, state)
    message = str(error.value)
    assert "classifier.bias" in message
    assert "cvt.encoder.stages.0.extra.weight" in message
    assert "layernorm.weight: checkpoint (7,)" in message


def test_converter_rejects_unsupported_configs():
    config = transformers.CvtConfig(cls_token=[True, False, True])
    with pytest.raises(ValueError, match="cls_token"):
        convert_hf_cvt({}, config=config)
