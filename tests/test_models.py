"""Every registered model through the shared test base (tiny configurations), on any backend.

Registered names whose tiny configurations are the same graph (`vit_base_patch16_224` and
`vit_large_patch16_224` both shrink to the same tiny ViT) are checked once, under the first name
(`DISTINCT`); the read-only checks share one build per name and module (`built`), so a model is
built once for shape, config, saving and fused/explicit checks, not once per check.
"""

import keras
import pytest

import keras_vt

from model_case import (
    case_for,
    check_config_round_trip,
    check_dtype_policy_round_trip,
    check_fit_lowers_loss,
    check_fused_matches_explicit,
    check_output_shape,
    check_saving_round_trip,
    n_params,
)
from reference import REFERENCE_PARAMS

NAMES = keras_vt.list_models()
# `mmt` with tiny=True is the same model as `mmt_tiny`: checked once, under that name.
NAMES = [name for name in NAMES if name != "mmt"]


def distinct_tiny_names(names):
    """The first name of each group of names whose tiny builds are the same graph."""
    seen = {}
    for name in names:
        spec = keras_vt.models.get_spec(name)
        config = {**spec.config, **spec.tiny}
        key = (spec.cls, spec.family, repr(sorted(config.items())))
        seen.setdefault(key, name)
    return sorted(seen.values())


DISTINCT = distinct_tiny_names(NAMES)
_BUILT = {}


class _SharedBuild:
    """A case whose `build` returns one model per (name, overrides) for the whole module."""

    def __init__(self, case):
        self.case = case

    def __getattr__(self, attribute):
        return getattr(self.case, attribute)

    def build(self, **overrides):
        key = (self.case.spec.name, tuple(sorted(overrides.items())))
        if key not in _BUILT:
            _BUILT[key] = self.case.build(**overrides)
        return _BUILT[key]


def built(name):
    return _SharedBuild(case_for(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_output_shape(name):
    check_output_shape(built(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_config_round_trip(name):
    check_config_round_trip(built(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_dtype_policy_round_trip(name):
    check_dtype_policy_round_trip(case_for(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_saving_round_trip(name):
    check_saving_round_trip(built(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_fit_lowers_loss(name):
    check_fit_lowers_loss(case_for(name))


@pytest.mark.parametrize("name", DISTINCT)
def test_fused_matches_explicit(name):
    # Its own build: the check switches the attention layers' paths.
    if not check_fused_matches_explicit(case_for(name)):
        pytest.skip(f"{name} has no attention layer with a fused/explicit switch")


def test_distinct_names_cover_every_family_and_class():
    specs = [keras_vt.models.get_spec(n) for n in NAMES]
    kept = [keras_vt.models.get_spec(n) for n in DISTINCT]
    assert {(s.family, s.cls) for s in specs} == {(s.family, s.cls) for s in kept}
    assert len(DISTINCT) < len(NAMES)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="parameter counts do not depend on the backend; counted once, on TensorFlow",
)
@pytest.mark.parametrize("name", sorted(set(REFERENCE_PARAMS) & set(NAMES)))
def test_full_size_parameter_count(name):
    assert n_params(keras_vt.create_model(name)) == REFERENCE_PARAMS[name]


def test_every_reference_name_is_registered():
    expected = {n for n in REFERENCE_PARAMS if n.startswith("vit_")}
    assert expected <= set(NAMES)
