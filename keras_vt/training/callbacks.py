"""Callbacks that keep a training run from being lost: backups to resume from after a kill, and a
stop on a NaN loss that names the step. `training_callbacks` builds them for every keras_vt fit
(`keras-vt train`, the Distiller, CLIP, MMT and AV Align examples).

Example:

```python
callbacks = keras_vt.training.training_callbacks("run.backup", resume=True)
model.fit(x, y, epochs=10, callbacks=callbacks)  # killed at epoch 6? rerun: resumes at epoch 6
```
"""

import json
import os
import shutil

import keras
import numpy as np

# Where keras.callbacks.BackupAndRestore writes the number of epochs done.
_METADATA = "training_metadata.json"


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite; raised by `StopOnNonFiniteLoss`."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """`keras.callbacks.TerminateOnNaN` plus what it lacks: names the epoch and batch, and raises.

    `TerminateOnNaN` only sets `stop_training`, so `fit` returns as if training had finished: the
    code after it evaluates and saves NaN weights, and `BackupAndRestore` deletes its backup (the
    last good weights). This callback raises `NonFiniteLossError` (a `ValueError`) from the first
    batch whose loss is not finite, before any later callback of the batch (put it first, ahead
    of `BackupAndRestore`, as `training_callbacks` does), so nothing after `fit` runs and the
    backup of the last finished epoch stays on disk.

    Example:

    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> try:
    ...     model.fit(np.array([[np.nan]]), np.zeros((1, 1)), verbose=0,
    ...               callbacks=[StopOnNonFiniteLoss()])
    ... except NonFiniteLossError as error:
    ...     print(str(error)[:46])
    Training stopped: the loss is nan at epoch 1,
    """

    def __init__(self, backup_dir=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(np.asarray(keras.ops.convert_to_numpy(loss)))
        if np.isfinite(loss):
            return
        self.model.stop_training = True
        done = backup_epochs(self.backup_dir)
        if done:
            kept = f"the weights after epoch {done} are kept in {self.backup_dir!r}"
        else:
            kept = "no epoch had finished, so there is no checkpoint to keep"
        raise NonFiniteLossError(
            f"Training stopped: the loss is {loss} at epoch {self.epoch + 1}, batch {batch + 1}; "
            f"{kept}, and the trained model was not saved. Lower the learning rate "
            "(or check the data) and train again."
        )


def backup_epochs(backup_dir):
    """The number of epochs a `BackupAndRestore` backup in `backup_dir` holds (0: no backup).

    Example:

    >>> backup_epochs("no-such-folder")
    0
    """
    path = os.path.join(os.fspath(backup_dir), _METADATA) if backup_dir else None
    if path is None or not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def training_callbacks(backup_dir=None, resume=False, keep_backup=False):
    """The callbacks of a resumable fit: `[StopOnNonFiniteLoss, BackupAndRestore]`.

    Args:
        backup_dir: folder of the `keras.callbacks.BackupAndRestore` backup written after every
            epoch (weights, optimizer state, epochs done; two copies, so a kill while writing
            keeps the previous one). `None`: no backup, only the NaN stop.
        resume: continue from a backup found in `backup_dir`. Without it, a backup left by an
            interrupted run is an error, not silently resumed with other settings.
        keep_backup: leave the backup when `fit` ends (remove it with `remove_backup` once the
            trained model is saved, so no moment leaves neither); by default it is deleted.

    Example:

    >>> [type(c).__name__ for c in training_callbacks("run.backup")]
    ['StopOnNonFiniteLoss', 'BackupAndRestore']
    """
    callbacks = [StopOnNonFiniteLoss(backup_dir)]
    if backup_dir is None:
        return callbacks
    backup_dir = os.fspath(backup_dir)
    done = backup_epochs(backup_dir)
    if done and not resume:
        raise ValueError(
            f"Found the backup of an interrupted run ({done} epochs done) in "
            f"backup_dir={backup_dir!r}: resume it with resume=True (keras-vt train --resume), "
            "or delete the folder to start over."
        )
    callbacks.append(
        keras.callbacks.BackupAndRestore(
            backup_dir, save_freq="epoch", delete_checkpoint=not keep_backup, double_checkpoint=True
        )
    )
    return callbacks


def remove_backup(backup_dir):
    """Deletes a backup folder (after the trained model is safely saved)."""
    if backup_dir is not None and os.path.isdir(backup_dir):
        shutil.rmtree(backup_dir)
