"""The registry: names, overrides and their errors."""

import pytest

import keras_vt
from keras_vt.models.registry import _REGISTRY, accepted_arguments


def test_misspelt_override_is_an_error_with_a_suggestion():
    with pytest.raises(ValueError, match=r"'hiden_dim' \(did you mean \['hidden_dim'\]\?\)"):
        keras_vt.create_model("vit_tiny_patch16_224", tiny=True, hiden_dim=64)
    with pytest.raises(ValueError, match="'depht'"):
        keras_vt.create_model("cpvt_tiny", tiny=True, depht=2)


@pytest.mark.parametrize("name", sorted(_REGISTRY))
def test_every_registered_config_uses_accepted_arguments(name):
    spec = _REGISTRY[name]
    accepted = accepted_arguments(spec.cls)
    assert (set(spec.config) | set(spec.tiny)) <= accepted
    assert {"name", "dtype"} <= accepted


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean"):
        keras_vt.create_model("vit_tiny_patch16")
