"""benchmarks/bench.py (`keras-vt bench`): its arithmetic, job list and arguments (nothing timed)."""

import pytest

from tests.benchmark_scripts import load

pytestmark = pytest.mark.single_backend


@pytest.fixture(scope="module")
def bench():
    return load("bench.py")


def stats(seconds):
    return {"median": seconds, "q1": seconds, "q3": seconds, "iqr": 0.0, "all": [seconds]}


def test_report_ratios_and_roofline_fraction(bench):
    args = bench["parse_args"](["--models", "vit_b16", "--batch", "8"])
    results = {
        "flops/torch": {"flops": {"vit_b16": 35e9}},
        "matmul/torch": {"matmul": {"float32": 200.0, "bfloat16": 400.0, "int8": 800.0}},
        "matmul/tensorflow": {"matmul": {"float32": 100.0, "bfloat16": 350.0, "int8": 50.0}},
        # 8 images in 2 s = 4 img/s x 35 GFLOP = 140 GFLOP/s = 70 % of 200.
        "keras_vt/torch/vit_b16/float32": {
            "inference": stats(2.0),
            "training": stats(8.0),
            "peak_rss_mb": 900.0,
            "setting": "s",
        },
        # 8 in 1 s = 8 img/s x 35 = 280 GFLOP/s = 70 % of 400.
        "keras_vt/torch/vit_b16/bfloat16": {"inference": stats(1.0), "peak_rss_mb": 800.0},
        "hf/torch/vit_b16/bfloat16": {"inference": stats(1.6), "peak_rss_mb": 700.0},
        "keras_hub/jax/vit_b16/int8": {"error": "exit 1: boom"},
    }
    markdown, summary = bench["report"](args, results)
    assert summary["rooflines"]["bfloat16"] == (400.0, "torch")
    assert "| vit_b16 | float32 | keras_vt | torch | 4.00 | 0.80x | 70% | 1.00 | 900 |" in markdown
    assert "| vit_b16 | bfloat16 | keras_vt | torch | 8.00 | 1.60x | 70% |" in markdown
    assert "| vit_b16 | int8 | keras_hub | jax | failed |" in markdown
    assert summary["best"]["vit_b16"]["keras_vt"]["precision"] == "bfloat16"
    assert "keras_vt/HF = 1.60x" in markdown
    assert "| vit_b16 | float32 | 4.00 (torch) [1.00] |  |  |  |" in markdown
    assert "| vit_b16 | bfloat16 | 8.00 (torch) |  | 5.00 (torch) | 1.60x |" in markdown


def test_jobs_cover_libraries_backends_and_precisions(bench):
    args = bench["parse_args"](["--models", "cvt_13,cpvt_s", "--precisions", "float32,int8"])
    jobs = list(bench["jobs"](args))
    assert jobs[0] == ("flops", "torch", None, None)
    assert {j[1] for j in jobs if j[0] == "matmul"} == {"tensorflow", "jax", "torch"}
    assert ("hf", "torch", "cvt_13", "int8") in jobs
    assert not [j for j in jobs if j[0] == "keras_hub"]  # keras-hub has neither CvT nor CPVT
    assert len([j for j in jobs if j[0] == "keras_vt"]) == 2 * 2 * 3


def test_bad_arguments_are_rejected(bench, capsys):
    for argv in (["--models", "vit_b17"], ["--precisions", "int4"], ["--batch", "0"]):
        with pytest.raises(SystemExit):
            bench["parse_args"](argv)
    assert "--batch: expected a positive integer, got 0" in capsys.readouterr().err


def test_goals_are_judged_from_the_run(bench):
    args = bench["parse_args"](["--models", "vit_b16,cvt_13", "--backends", "tensorflow,torch"])
    job = lambda seconds, train=None: {  # noqa: E731
        "inference": stats(seconds),
        **({"training": stats(train)} if train else {}),
        "peak_rss_mb": 1.0,
    }
    results = {
        "keras_vt/torch/vit_b16/int8": job(0.5),  # 16 img/s
        "keras_vt/tensorflow/vit_b16/int8": job(0.6),  # 13.3
        "keras_vt/tensorflow/vit_b16/float32": job(1.0, train=4.0),  # 8, training 2
        "keras_hub/tensorflow/vit_b16/float32": job(1.0),
        "hf/torch/vit_b16/int8": job(0.8),  # 10
        "hf/torch/vit_b16/bfloat16": job(1.0, train=8.0),  # training 1
        "keras_vt/torch/cvt_13/float32": job(2.0),  # 4 img/s
        "keras_vt/tensorflow/cvt_13/float32": job(1.0),  # 8
        "hf/torch/cvt_13/float32": job(1.6),  # 5
    }
    table = {
        goal: (measured, met)
        for goal, measured, met in bench["goals"](args, bench["job_rows"](args.batch, results))
    }
    assert table["ViT-B/16 inference, keras_vt best >= 1.1x HF best"] == (
        "16.00 (int8 torch) / 10.00 (int8 torch) = 1.60x",
        True,
    )
    assert table["ViT-B/16 best setting (int8) >= 1.1x HF best on two Keras backends"][1]
    assert table["vit_b16 int8 >= 1.0x HF dynamic int8"][1]
    assert table["ViT-B/16 training step >= 1.1x HF best"][0].endswith("= 2.00x")
    assert table["CvT-13 float32 on torch >= 1.0x HF float32"] == (
        "4.00 (float32 torch) / 5.00 (float32 torch) = 0.80x",
        False,
    )
    assert table["CvT-13 float32 on tensorflow >= 1.0x HF float32"][1]
    assert table["cvt_13 int8 >= 1.0x HF dynamic int8"] == ("not measured in this run", None)


def test_report_is_rewritten_from_a_results_file(bench, tmp_path, capsys):
    args = bench["parse_args"](["--models", "vit_b16"])
    data = {
        "provenance": {
            "date": "2026-12-03T00:00:00+00:00",
            "machine": {"cpu": "CPU", "cpu_count": 2},
            "load_average_start": [0.1],
            "load_average_end": [0.2],
            "command": "python benchmarks/bench.py",
            "keras_backend": "tensorflow",
        },
        "jobs": {"hf/torch/vit_b16/float32": {"inference": stats(2.0), "peak_rss_mb": 5.0}},
        "settings": vars(args),
    }
    path = tmp_path / "run.json"
    path.write_text(__import__("json").dumps(data))
    assert bench["main"](["--report", str(path)]) == 0
    markdown = (tmp_path / "run.md").read_text()
    assert "| vit_b16 | float32 | hf | torch | 4.00 | 1.00x |" in markdown
    assert markdown.rstrip().endswith("(KERAS_BACKEND=tensorflow).")
    with pytest.raises(SystemExit, match="--report: no such file"):
        bench["main"](["--report", str(tmp_path / "missing.json")])


def test_keras_hub_runs_on_its_fastest_backend_unless_asked(bench):
    args = bench["parse_args"](["--models", "vit_b16", "--precisions", "float32"])
    assert {j[1] for j in bench["jobs"](args) if j[0] == "keras_hub"} == {"tensorflow"}
    args = bench["parse_args"](["--models", "vit_b16", "--hub-backends", "jax,torch"])
    assert {j[1] for j in bench["jobs"](args) if j[0] == "keras_hub"} == {"jax", "torch"}


def test_time_settings_keeps_the_fastest_and_reports_failures(bench):
    """On PyTorch each job times eager and compiled; the faster is the row, both are kept, and a
    setting that fails (a compiler error) is reported while the other still gives the row. Each
    setting is set up just before its own timing (setting both up first timed the last twice)."""
    import time

    args = bench["parse_args"](["--warmup", "0", "--repeats", "1"])
    args.tag = "test"
    events = []

    def setting(name, call):
        def prepare():
            events.append(f"prepare {name}")
            return lambda: events.append(f"call {name}") or call()

        return name, prepare

    def broken():
        raise RuntimeError("inductor error")

    slow, fast = (lambda: time.sleep(0.02)), (lambda: None)
    result = bench["time_settings"]([setting("eager", slow), setting("compiled", fast)], args)
    assert events == ["prepare eager", "call eager", "prepare compiled", "call compiled"]
    assert result["setting"] == "compiled"
    assert set(result["inference_by_setting"]) == {"eager", "compiled"}
    assert result["inference_by_setting"]["eager"]["median"] >= 0.02
    result = bench["time_settings"]([setting("eager", fast), setting("compiled", broken)], args)
    assert result["setting"] == "eager"
    assert "inductor error" in result["failed_settings"]["compiled"]
    with pytest.raises(RuntimeError, match="inductor error"):
        bench["time_settings"]([setting("compiled", broken)], args)


def test_training_is_timed_eager_and_compiled_where_auto(bench):
    """Training gets the same treatment (PyTorch's "auto": both settings, the faster kept under
    `training`), with its own keys so that the inference row is untouched; a setting that does
    not apply (a library without that model's training) gives no training entry at all."""
    import time

    args = bench["parse_args"](["--train-repeats", "1"])
    args.tag = "test"
    calls = []

    def training(compiled):
        def prepare():
            calls.append(compiled)
            return (lambda: None) if compiled else (lambda: time.sleep(0.02))

        return f"jit_compile={compiled}", prepare

    result = bench["time_training"](training, None, args)
    assert calls == [False, True]
    assert result["training_setting"] == "jit_compile=True"
    assert set(result["training_by_setting"]) == {"jit_compile=False", "jit_compile=True"}
    assert "inference" not in result and "setting" not in result
    calls.clear()
    result = bench["time_training"](training, False, args)
    assert calls == [False] and result["training_setting"] == "jit_compile=False"
    assert bench["time_training"](lambda c: (str(c), lambda: None), None, args) == {}
    job = {"inference": stats(1.0), "training": stats(4.0), "peak_rss_mb": 1.0, "setting": "eager"}
    job["training_setting"] = "float32, AdamW, jit_compile=False"
    (row,) = bench["job_rows"](8, {"keras_vt/torch/vit_b16/float32": job})
    assert row.setting == "eager; training: float32, AdamW, jit_compile=False"
    assert row.training == 2.0
