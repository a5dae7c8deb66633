"""Nothing lost: problems found before training starts, files written atomically."""

import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_vt import cli
from keras_vt.convert.hub import save_atomic
from keras_vt.training.callbacks import (
    NonFiniteLossError,
    backup_epochs,
    training_callbacks,
)
from keras_vt.training.classification import train_classifier


def test_missing_output_folder_is_an_error_before_training(tmp_path):
    missing = tmp_path / "no-such-folder" / "model.keras"
    with pytest.raises(ValueError, match="existing folder"):
        train_classifier("vit_mini_patch4_32", num_images=10**9, output=str(missing))


def test_save_atomic_keeps_the_old_file_when_saving_fails(tmp_path):
    class Broken:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half a file")
            raise KeyboardInterrupt  # a kill while saving

    target = tmp_path / "model.keras"
    target.write_bytes(b"the good model")
    with pytest.raises(KeyboardInterrupt):
        save_atomic(Broken(), target)
    assert target.read_bytes() == b"the good model"
    assert [f for f in os.listdir(tmp_path) if f != "model.keras"] == []


# A tiny deterministic run of `keras-vt train` (one block, 4 steps per epoch, 3 epochs).
TINY_RUN = [
    "train",
    "vit_mini_patch4_32",
    "--num-images",
    "128",
    "--batch-size",
    "32",
    "--epochs",
    "3",
    "--seed",
    "3",
    "--set",
    "depth=1",
]


def train_process(output, *extra):
    """`keras-vt train` in a subprocess on JAX: XLA on CPU compiles the same program to the same
    kernels, so a resumed run can be compared bit for bit (TensorFlow's oneDNN kernels split
    reductions over threads)."""
    env = dict(
        os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join(sys.path), JAX_PLATFORMS="cpu"
    )
    command = [sys.executable, "-m", "keras_vt.cli", *TINY_RUN, "--output", str(output), *extra]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def model_weights(path):
    model = keras.saving.load_model(path, compile=False)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.single_backend
def test_a_run_killed_mid_training_resumes_to_the_same_weights(tmp_path):
    pytest.importorskip("jax")
    whole, killed = tmp_path / "whole.keras", tmp_path / "killed.keras"
    uninterrupted = train_process(whole)
    run = train_process(killed)
    backup = f"{killed}.backup"
    deadline = time.monotonic() + 300
    while backup_epochs(backup) < 1 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)  # after epoch 1's backup, during epoch 2
    run.wait()
    assert run.returncode == -signal.SIGKILL, run.stderr.read()[-2000:]
    assert 1 <= backup_epochs(backup) < 3 and not killed.exists()

    # Without --resume a left-over backup is an error, not silently resumed.
    assert cli.main([*TINY_RUN, "--output", str(killed)]) == 2
    epoch_one = tmp_path / "epoch1.weights.h5"
    shutil.copy(os.path.join(backup, "latest.weights.h5"), epoch_one)
    resumed = train_process(killed, "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()[-2000:]
    assert not os.path.exists(backup)  # removed once the model was saved

    first, second = model_weights(whole), model_weights(killed)
    assert len(first) == len(second) > 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # Epochs 2 and 3 trained after the resume: the weights moved from epoch 1's checkpoint.
    assert abs(h5_l1_norm(epoch_one) - sum(np.abs(w).sum() for w in first)) > 1e-3


def h5_l1_norm(path):
    """Sum of absolute values of the model weights (not the optimizer's) in a .weights.h5."""
    h5py = pytest.importorskip("h5py")
    norms = []
    with h5py.File(path, "r") as f:
        f["layers"].visititems(
            lambda name, item: (
                norms.append(np.abs(item[()]).sum()) if isinstance(item, h5py.Dataset) else None
            )
        )
    return float(sum(norms))


def test_a_nan_loss_stops_training_names_the_step_and_saves_nothing(tmp_path, capfd):
    output = tmp_path / "model.keras"
    output.write_bytes(b"the good model")
    code = cli.main(
        ["train", "vit_mini_patch4_32", "--num-images", "64", "--batch-size", "32"]
        + ["--epochs", "4", "--learning-rate", "1e4", "--warmup-epochs", "0"]
        + ["--set", "depth=1", "--output", str(output)]
    )
    out, err = capfd.readouterr()
    assert code == 2
    assert "loss is nan at epoch" in err and "batch" in err, err
    assert "final validation accuracy" not in out
    assert output.read_bytes() == b"the good model"


def test_the_backup_of_the_last_good_epoch_survives_a_nan(tmp_path):
    class Batches(keras.utils.PyDataset):  # finite in epoch 1, NaN in epoch 2
        def __init__(self):
            super().__init__()
            self.epoch = 0

        def __len__(self):
            return 2

        def __getitem__(self, index):
            x = np.full((4, 3), np.nan if self.epoch else 1.0, "float32")
            return x, np.ones((4, 1), "float32")

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = tmp_path / "backup"
    with pytest.raises(NonFiniteLossError, match="epoch 2, batch 1.*after epoch 1 are kept"):
        data = Batches()
        set_epoch = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: setattr(data, "epoch", epoch)
        )
        model.fit(data, epochs=3, verbose=0, callbacks=[*training_callbacks(backup), set_epoch])
    assert backup_epochs(backup) == 1
    restored = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    restored.compile(optimizer="sgd", loss="mse")
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(backup / "latest.weights.h5")
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in restored.weights)
    with pytest.raises(ValueError, match="resume=True"):
        training_callbacks(backup)


def test_a_distiller_fit_backs_up_and_resumes(tmp_path):
    import keras_vt

    def distiller():
        keras.utils.set_random_seed(0)
        student = keras_vt.create_model("deit_tiny_distilled_patch16_224", tiny=True, num_classes=4)
        teacher = keras_vt.create_model("resnet18", tiny=True, num_classes=4, image_size=32)
        model = keras_vt.training.Distiller(student, teacher)
        model.compile(optimizer="sgd")
        return model

    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 4
    backup = tmp_path / "backup"
    first = distiller()
    first.fit(x, y, batch_size=4, verbose=0, callbacks=training_callbacks(backup, keep_backup=True))
    assert backup_epochs(backup) == 1
    resumed = distiller()  # a fresh process would build the same; the backup sets its weights
    resumed.fit(x, y, batch_size=4, verbose=0, callbacks=training_callbacks(backup, resume=True))
    assert not backup.exists()  # deleted when the resumed fit ended (keep_backup=False)
    for a, b in zip(first.student.weights, resumed.student.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
