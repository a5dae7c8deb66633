"""A noise curriculum for audio-visual training (AV Align, TASLP 2020): train on clean audio
first, then on noisier and noisier audio (clean -> 10 -> 0 -> -5 dB by default).

`AudioVisualSequence` is a `keras.utils.PyDataset` of `keras_vt.data.make_audio_visual` batches
whose SNR can change between epochs; `NoiseCurriculum` is the callback that changes it.
"""

import numbers

import keras
import numpy as np

from keras_vt import checks
from keras_vt.data.audio_visual import make_audio_visual

DEFAULT_SCHEDULE = (None, 10.0, 0.0, -5.0)


class AudioVisualSequence(keras.utils.PyDataset):
    """Batches of the built-in audio-visual task at a settable SNR (`snr_db`, None = clean).

    The utterances are the same at every SNR (they depend on `seed` only); the data of each SNR
    is generated once and cached. `served` records the SNR of every batch handed out, in order.

    Args:
        num_examples: utterances per epoch.
        batch_size: examples per batch.
        seed: seed of the utterances.
        snr_db: starting SNR.
        **data_kwargs: more `make_audio_visual` arguments (`max_symbols`, `audio_bins`, ...).

    Example:

    >>> data = keras_vt.training.AudioVisualSequence(8, batch_size=4, snr_db=10)
    >>> inputs, labels = data[0]
    >>> len(data), inputs["audio"].shape[0]
    (2, 4)
    """

    def __init__(self, num_examples, batch_size=32, seed=0, snr_db=None, **data_kwargs):
        super().__init__(workers=1, use_multiprocessing=False)
        batch_size = checks.check_int("batch_size", batch_size)
        self.num_examples = int(num_examples)
        self.batch_size = batch_size
        self.seed = seed
        self.data_kwargs = data_kwargs
        self._cache = {}
        self.served = []
        self.snr_db = snr_db
        self.data(snr_db)  # checks the arguments now

    def data(self, snr_db):
        """`(inputs, labels)` of the whole set at `snr_db` (cached)."""
        if snr_db not in self._cache:
            self._cache[snr_db] = make_audio_visual(
                self.num_examples, seed=self.seed, snr_db=snr_db, **self.data_kwargs
            )
        return self._cache[snr_db]

    def __len__(self):
        return -(-self.num_examples // self.batch_size)

    def __getitem__(self, index):
        snr_db = self.snr_db
        inputs, labels = self.data(snr_db)
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        self.served.append(snr_db)
        return (
            {k: v[batch] for k, v in inputs.items()},
            {k: v[batch] for k, v in labels.items() if k != "lag_ms"},
        )


class NoiseCurriculum(keras.callbacks.Callback):
    """Sets `dataset.snr_db` at the start of every epoch from a schedule of SNR stages.

    Stage `k` (of `schedule`, default clean -> 10 -> 0 -> -5 dB) runs for `epochs_per_stage`
    epochs; after the last stage the last SNR stays. The epoch's SNR is logged as `snr_db`
    (NaN for clean) so that `History` records the curriculum.

    Args:
        dataset: any object with a settable `snr_db` attribute read when batches are made
            (`AudioVisualSequence`).
        schedule: SNRs in dB, None for clean audio.
        epochs_per_stage: epochs per stage (int) or one int per stage.

    Example:

    >>> data = keras_vt.training.AudioVisualSequence(4, batch_size=4)
    >>> curriculum = keras_vt.training.NoiseCurriculum(data, epochs_per_stage=2)
    >>> [curriculum.snr_for_epoch(e) for e in range(9)]
    [None, None, 10.0, 10.0, 0.0, 0.0, -5.0, -5.0, -5.0]
    """

    def __init__(self, dataset, schedule=DEFAULT_SCHEDULE, epochs_per_stage=1):
        super().__init__()
        if not hasattr(dataset, "snr_db"):
            raise checks.invalid(
                "dataset",
                dataset,
                "a dataset with a settable snr_db attribute (AudioVisualSequence)",
                problem=f"dataset of type {type(dataset).__name__}",
            )
        schedule = tuple(schedule)
        if not schedule:
            raise checks.invalid("schedule", (), "at least one SNR stage")
        for snr in schedule:
            if snr is not None and (
                isinstance(snr, bool) or not isinstance(snr, numbers.Real) or np.isnan(snr)
            ):
                raise checks.invalid(
                    "schedule",
                    None,
                    "schedule as SNRs in dB (numbers) or None for clean audio",
                    problem=f"got {snr!r} in schedule={schedule!r}",
                )
        if isinstance(epochs_per_stage, numbers.Integral):
            epochs_per_stage = (int(epochs_per_stage),) * len(schedule)
        epochs_per_stage = checks.check_ints(
            "epochs_per_stage", epochs_per_stage, length=len(schedule)
        )
        self.dataset = dataset
        self.schedule = tuple(None if s is None else float(s) for s in schedule)
        self.epochs_per_stage = epochs_per_stage
        self.boundaries = np.cumsum(epochs_per_stage)

    @property
    def total_epochs(self):
        """Epochs until the last stage has run its course."""
        return int(self.boundaries[-1])

    def snr_for_epoch(self, epoch):
        stage = int(np.searchsorted(self.boundaries, epoch, side="right"))
        return self.schedule[min(stage, len(self.schedule) - 1)]

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.snr_db = self.snr_for_epoch(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            snr = self.snr_for_epoch(epoch)
            logs["snr_db"] = float("nan") if snr is None else snr
