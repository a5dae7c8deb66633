"""Every registered model through the shared test base (tiny configurations), on any backend."""

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


@pytest.mark.parametrize("name", NAMES)
def test_output_shape(name):
    check_output_shape(case_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    check_config_round_trip(case_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_dtype_policy_round_trip(name):
    check_dtype_policy_round_trip(case_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_saving_round_trip(name):
    check_saving_round_trip(case_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_fit_lowers_loss(name):
    check_fit_lowers_loss(case_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_fused_matches_explicit(name):
    if not check_fused_matches_explicit(case_for(name)):
        pytest.skip(f"{name} has no attention layers")


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
