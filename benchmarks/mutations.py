"""Mutation check: delete a checked behaviour from the library and show that its test fails.

Each mutation below is a one-line edit of keras_vt's code (the behaviour a test claims to check:
loading the weights, the attention probabilities, the position resampling, tie handling, the
teacher, disjoint splits). For each, this script copies `keras_vt/`, `tests/` and
`pyproject.toml` to a temporary directory, applies the edit there (the checkout is never
touched), runs the named test with pytest on that copy, and records whether it failed and the
first assertion line. A mutation whose test still passes is a test that cannot see the
behaviour. With `--baseline` it first runs each test on the unmutated copy (it must pass).

    python benchmarks/mutations.py               # all mutations, TensorFlow backend
    python benchmarks/mutations.py --only ties   # mutations whose name contains "ties"
    python benchmarks/mutations.py --baseline

Writes `benchmarks/results/mutations.{json,md}` with date, machine and load average. Not part of
the test suite (each mutation starts a pytest process: about 10-40 s each on 2 cores).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results_io import RESULTS, footer, provenance, write_atomic, write_json  # noqa: E402

# name, behaviour deleted, file, exact text replaced (must occur once), replacement, tests
MUTATIONS = [
    (
        "skip_keras_weight_load",
        "skip the weight load of a .keras file into a model of another resolution",
        "keras_vt/models/registry.py",
        "            model.load_weights(weights_path)\n",
        "            pass  # mutation: the weights are never loaded\n",
        ["tests/test_vit.py::test_keras_file_weights_load_into_a_new_resolution"],
    ),
    (
        "uniform_attention_maps",
        "return uniform attention probabilities from the explicit path (outputs unchanged)",
        "keras_vt/layers/attention.py",
        "    return ops.transpose(out, (0, 2, 1, 3)), probs\n",
        "    uniform = ops.zeros_like(probs) + ops.mean(probs, axis=-1, keepdims=True)  # 1 / keys\n"
        "    return ops.transpose(out, (0, 2, 1, 3)), uniform\n",
        [
            "tests/test_cvt_parity.py::test_logits_and_attention_match_hugging_face[three_stages-32]",
            "tests/test_viz.py::test_attention_maps_are_the_softmax_of_the_blocks_own_queries_and_keys",
        ],
    ),
    (
        "drop_position_resampling",
        "resize keeps the rebuilt model's fresh position table instead of the resampled one",
        "keras_vt/models/resolution.py",
        "            value = resample_positions(\n",
        "            value = keras.ops.convert_to_numpy(weight)  # mutation: no resampling\n"
        "            _ = resample_positions(\n",
        ["tests/test_deit.py::test_resize_keeps_predictions_on_upsampled_inputs"],
    ),
    (
        "ties_count_for_the_query",
        "retrieval ranks count tied candidates in the query's favour (numpy ranking_metrics)",
        "keras_vt/training/retrieval.py",
        "    return 1.0 + higher + tied_others / 2.0\n",
        "    return 1.0 + higher + 0.0 * tied_others\n",
        ["tests/test_clip.py::test_retrieval_ties_are_averaged"],
    ),
    (
        "ties_count_for_the_query_in_batch",
        "in-batch ranks (RetrievalRecall) count tied candidates in the query's favour",
        "keras_vt/metrics.py",
        "    return 1.0 + higher + tied / 2.0\n",
        "    return 1.0 + higher + 0.0 * tied\n",
        ["tests/test_mmt.py::test_in_batch_ranks_and_recall_with_ties"],
    ),
    (
        "skip_the_teacher",
        "the Distiller distils from the student's own class head instead of the teacher",
        "keras_vt/training/distillation.py",
        "            teacher_logits = ops.cast(ops.stop_gradient(self.teacher(x, training=False)), "
        '"float32")\n',
        '            teacher_logits = ops.cast(ops.stop_gradient(class_logits), "float32")\n',
        [
            "tests/test_distillation.py::"
            "test_hard_distillation_uses_the_teachers_argmax_on_the_distillation_head",
            "tests/test_distillation.py::test_fit_on_soft_targets_with_a_custom_base_loss",
        ],
    ),
    (
        "overlapping_shapes_split",
        "keras-vt train's validation images are the first training images (splits overlap)",
        "keras_vt/training/classification.py",
        "        val = (images[num_images:], labels[num_images:])\n",
        "        val = (images[:num_val], labels[:num_val])\n",
        ["tests/test_data.py::test_training_splits_of_the_shapes_data_are_disjoint"],
    ),
    (
        "overlapping_folder_split",
        "an image folder's validation subset is its training subset",
        "keras_vt/data/folders.py",
        "        subset=subset,\n    )\n",
        '        subset="training" if subset == "validation" else subset,\n    )\n',
        ["tests/test_data.py::test_image_folder_dataset_splits_are_disjoint"],
    ),
]


def run_test(copy, test, backend):
    env = dict(os.environ, PYTHONPATH=str(copy), KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", "-q", test]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    # The first assertion lines pytest prints ("E   AssertionError: ...", the mismatch), joined.
    errors = [line[1:].strip() for line in out.splitlines() if re.match(r"E\s", line)]
    failure = " / ".join(line for line in errors if line)[:400]
    summary = next(
        (line.strip() for line in reversed(out.splitlines()) if re.search(r"passed|failed", line)),
        out.strip().splitlines()[-1] if out.strip() else "",
    )
    return done.returncode, failure, summary


def fresh_copy(tmp):
    copy = Path(tmp) / "repo"
    if copy.exists():
        shutil.rmtree(copy)
    copy.mkdir()
    for part in ("keras_vt", "tests"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def cell(text, limit=None):
    """One markdown table cell: no newlines or pipes, optionally shortened."""
    text = " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def render(rows, backend, only=None):
    lines = [
        f"# Mutation check (`python benchmarks/mutations.py`, KERAS_BACKEND={backend})",
        "",
        "Each row deletes one checked behaviour from a temporary copy of the library and runs the",
        "test that claims to check it; 'killed' means the test failed on an assertion, as it must.",
        "",
        *(
            [f"Rows of `--only {only}` re-run now; the other rows from the previous run.", ""]
            if only
            else []
        ),
        "| mutation | edit (file: old -> new) | test | result | first failure lines |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['mutation']}: {cell(row['what'])} | `{row['file']}`: `{cell(row.get('diff', ''))}` "
            f"| `{row['test']}` | {row['verdict']} | {cell(row.get('failure', ''), 240)} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="run the mutations whose name contains this")
    parser.add_argument("--baseline", action="store_true", help="also run each test unmutated")
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite mutations.md from mutations.json"
    )
    args = parser.parse_args()
    if args.render:
        data = json.loads((RESULTS / "mutations.json").read_text())
        text = render(data["rows"], data["backend"]) + footer(data["provenance"])
        write_atomic(RESULTS / "mutations.md", text)
        return 0
    started = provenance()
    rows = []
    with tempfile.TemporaryDirectory(prefix="keras_vt_mutations_") as tmp:
        for name, what, path, old, new, tests in MUTATIONS:
            if args.only and args.only not in name:
                continue
            for test in tests:
                copy = fresh_copy(tmp)
                row = {"mutation": name, "what": what, "file": path, "test": test}
                if args.baseline:
                    code, _, summary = run_test(copy, test, args.backend)
                    row["baseline"] = {"returncode": code, "summary": summary}
                target = copy / path
                text = target.read_text()
                if text.count(old) != 1:
                    row.update(applied=False, verdict="patch does not apply (code changed)")
                    rows.append(row)
                    print(f"{name}: patch does not apply to {path}")
                    continue
                target.write_text(text.replace(old, new))
                code, failure, summary = run_test(copy, test, args.backend)
                # pytest exit code 1: tests ran and at least one failed (2-5: error, no tests).
                # A crash (TypeError, ...) fails the test without showing that it checks the
                # behaviour, so only a failed assertion counts as killed.
                asserted = "AssertionError" in failure or failure.startswith("assert")
                if code != 1:
                    verdict = f"SURVIVED (exit {code})"
                else:
                    verdict = "killed (assertion fails)" if asserted else "ERROR, not an assertion"
                row.update(
                    applied=True,
                    diff=f"{old.strip()}  ->  {new.strip()}",
                    returncode=code,
                    failure=failure,
                    summary=summary,
                    verdict=verdict,
                )
                rows.append(row)
                print(f"{name} | {test} | {verdict} | {failure}", flush=True)
    if args.only and (RESULTS / "mutations.json").exists():
        # A partial run replaces its own rows in the last full record and keeps the others.
        ran = {row["mutation"] for row in rows}
        kept = json.loads((RESULTS / "mutations.json").read_text())["rows"]
        order = [m[0] for m in MUTATIONS]
        rows = sorted(
            [r for r in kept if r["mutation"] not in ran] + rows,
            key=lambda r: order.index(r["mutation"]) if r["mutation"] in order else len(order),
        )
    markdown = render(rows, args.backend, args.only)
    path = write_json("mutations", {"backend": args.backend, "rows": rows}, started, markdown)
    print(f"Wrote {path}")
    survived = [r for r in rows if not r["verdict"].startswith("killed")]
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
