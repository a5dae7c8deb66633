"""Nothing lost: problems found before training starts, files written atomically."""

import os

import pytest

from keras_vt.convert.hub import save_atomic
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
