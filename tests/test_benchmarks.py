"""benchmarks/throughput.py: its FLOP count, its arithmetic and `keras-vt bench` (nothing timed)."""

import pytest

from keras_vt import cli
from tests.benchmark_scripts import load

pytestmark = pytest.mark.single_backend


@pytest.fixture(scope="module")
def bench():
    return load("throughput.py")


def test_vit_b16_flops_match_the_published_count(bench):
    flops = bench["vit_flops"](**bench["VIT_B16"])
    # Closed form: patches * patch_pixels * D + L * (12 N D^2 + 2 N^2 D) + D * classes.
    assert flops["macs"] == 196 * 768 * 768 + 12 * (197 * 12 * 768**2 + 2 * 197**2 * 768) + 768_000
    assert abs(flops["macs"] / 1e9 - 17.6) < 0.1
    assert flops["flops"] == 2 * flops["macs"]
    tokens, dim = 197, 768
    assert flops["macs_by_part"]["attention_qk"] == 12 * tokens * tokens * dim


def fake_result(seconds, train_seconds=None, matmul=None):
    result = {"inference": bench_stats(seconds), "mode": "test"}
    if train_seconds:
        result["training"] = bench_stats(train_seconds)
    if matmul:
        best = {"n": 1024, "gflops_median": matmul, "gflops_best": matmul}
        result["matmul"] = {"best": best, "per_size": {1024: best}}
    return result


def bench_stats(seconds):
    return {"median": seconds, "q1": seconds, "q3": seconds, "cpu_per_wall": 2.0}


def test_report_ratios_and_roofline_fraction(bench):
    args = bench["parse_args"](["--backends", "jax", "--batch", "8", "--threads", "2"])
    per_image = bench["vit_flops"]()["flops"]
    ours = 8 * per_image / 1e9 / 80.0  # seconds per batch at 80 GFLOP/s
    results = {
        "keras_vt/jax": fake_result(ours, train_seconds=3 * ours, matmul=100.0),
        "keras_hub/jax": fake_result(2 * ours),
        "hf/torch": fake_result(3 * ours),
    }
    markdown, data = bench["report"](args, results, bench["vit_flops"](), [1, 1, 1], [1, 1, 1])
    row = next(r for r in data["table"] if r["library"] == "keras_vt")
    assert row["vs_keras_hub"] == "2.00x" and row["vs_hf"] == "3.00x"
    assert row["roofline_fraction_inference"] == pytest.approx(0.8)
    assert row["roofline_fraction_training"] == pytest.approx(0.8)
    assert data["roofline_gflops"] == 100.0
    assert "80% of the matmul roofline: 80% (met)" in markdown
    assert ">= 1.5x HF transformers (PyTorch): 3.00x (met)" in markdown


def test_bad_arguments_are_rejected(bench):
    with pytest.raises(SystemExit):
        bench["parse_args"](["--backends", "numpy"])
    with pytest.raises(SystemExit):
        bench["parse_args"](["--batch", "0"])


def test_cli_bench_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--backends" in out and "--quick" in out


def test_results_record_the_compiler_environment(monkeypatch):
    """A run with a compiler variable set (TORCHINDUCTOR_LAYOUT_OPTIMIZATION=0 changes PyTorch's
    compiled CNNs) says so in its JSON provenance and in its markdown footer; others are left out."""
    io = load("results_io.py")
    monkeypatch.setenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", "0")
    monkeypatch.setenv("UNRELATED_SETTING", "1")
    started = io["provenance"]()
    assert started["environment"]["TORCHINDUCTOR_LAYOUT_OPTIMIZATION"] == "0"
    assert "UNRELATED_SETTING" not in started["environment"]
    footer = io["footer"](io["finish"](started))
    assert "TORCHINDUCTOR_LAYOUT_OPTIMIZATION=0)." in footer
    monkeypatch.delenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION")
    assert "TORCHINDUCTOR" not in io["footer"](io["finish"](io["provenance"]()))
