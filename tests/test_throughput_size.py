"""benchmarks/throughput_size.py: what it records and reports (timings are not checked)."""

import numpy as np
import pytest

import keras_vt
from tests.benchmark_scripts import load

pytestmark = pytest.mark.single_backend


@pytest.fixture(scope="module")
def script():
    return load("throughput_size.py")


def test_attention_shapes_are_recorded_and_attend_restored(script):
    import keras_vt.layers.attention as attention

    original = attention.attend
    model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)  # depth 2, 2 heads, 32 px
    x = np.zeros((3, 32, 32, 3), "float32")
    calls = script["record_attention_shapes"](model, x)
    assert len(calls) == 2  # one attention core per block
    q_shape, k_shape, v_shape, scale = calls[0]
    assert q_shape == k_shape == v_shape == (3, 5, 2, 16)  # 4 patches + class token, 2 heads
    assert scale == pytest.approx(16**-0.5)
    assert attention.attend is original
    cvt = keras_vt.create_model("cvt_13", tiny=True, num_classes=10)
    calls = script["record_attention_shapes"](cvt, x)
    assert any(c[0][1] != c[1][1] for c in calls), "CvT's strided keys are shorter than queries"
    seconds = script["attention_seconds"](calls[:1], "float32", False, 0, 1, chain=2)
    assert seconds > 0


def test_report_and_arguments(script):
    args = script["parse_args"](["--sizes", "32,64", "--models", "vit_s16"])
    rows = [
        {
            "model": "vit_s16",
            "precision": "float32",
            "image_size": 64,
            "images_per_second": 12.5,
            "attention_share": 0.25,
        }
    ]
    text = script["markdown"](args, rows)
    assert "| vit_s16 | float32 |  | 12.50 (25 %) |" in text
    assert "64 px = 16" in text
    for argv in (["--sizes", "50"], ["--models", "vit_b17"], ["--precisions", "int4"]):
        with pytest.raises(SystemExit):
            script["parse_args"](argv)
