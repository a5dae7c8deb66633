"""The registry: names, overrides and their errors."""

import warnings

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


# One registered name per model class that renamed an argument (one name per concept).
RENAMED = sorted(
    {
        spec.cls: name for name, spec in sorted(_REGISTRY.items()) if spec.cls.renamed_arguments
    }.values()
)


@pytest.mark.parametrize("name", RENAMED)
def test_renamed_arguments_keep_their_old_names_with_a_warning(name):
    """An argument's old name (e.g. AV Align's `num_layers`, CvT's `embed_dims`) still builds the
    same model, through `create_model` and the class, with a `DeprecationWarning`; a config saved
    under it loads silently; old and new name together are an error naming both."""
    spec = _REGISTRY[name]
    config = {**spec.config, **spec.tiny}
    for old, new in spec.cls.renamed_arguments.items():
        value = config[new]
        with pytest.warns(DeprecationWarning, match=f"{old}=.* is deprecated; pass {new}="):
            old_model = keras_vt.create_model(name, tiny=True, **{old: value})
        new_model = keras_vt.create_model(name, tiny=True)
        assert getattr(old_model, old) == getattr(old_model, new) == getattr(new_model, new)
        assert [w.path for w in old_model.weights] == [w.path for w in new_model.weights]
        assert [w.shape for w in old_model.weights] == [w.shape for w in new_model.weights]
        saved = new_model.get_config()
        assert old not in saved
        saved[old] = saved.pop(new)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            assert spec.cls.from_config(saved).get_config()[new] == new_model.get_config()[new]
        arguments = {k: v for k, v in config.items() if k != new}
        with pytest.warns(DeprecationWarning, match=f"pass {new}="):
            assert getattr(spec.cls(**arguments, **{old: value}), new) == getattr(new_model, new)
        with pytest.raises(
            ValueError, match=rf"Invalid {old}: got {old}=.* \(deprecated\) and {new}="
        ):
            keras_vt.create_model(name, tiny=True, **{old: value, new: value})
