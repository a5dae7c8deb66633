"""The objectives of keras_vt.losses against hand computations."""

import keras
import numpy as np
import pytest

from keras_vt import losses


def value(x):
    return float(keras.ops.convert_to_numpy(x))


def test_ranking_loss_of_an_all_equal_matrix_is_the_margin():
    assert value(losses.max_margin_ranking_loss(np.full((5, 5), 0.3))) == pytest.approx(0.05)
    assert value(losses.max_margin_ranking_loss(np.full((2, 2), -1.0), margin=0.2)) == (
        pytest.approx(0.2)
    )


def test_ranking_loss_by_hand():
    s = np.array([[0.9, 0.88, 0.1], [0.2, 0.5, 0.6], [0.0, 0.3, 0.7]], "float32")
    terms = []
    for i in range(3):
        for j in range(3):
            if i != j:
                terms.append(max(0.0, 0.05 + s[i, j] - s[i, i]))  # caption i vs video j
                terms.append(max(0.0, 0.05 + s[i, j] - s[j, j]))  # video j vs caption i
    assert len(terms) == 12
    assert value(losses.max_margin_ranking_loss(s)) == pytest.approx(np.mean(terms), abs=1e-6)
    with pytest.raises(ValueError, match="square"):
        losses.max_margin_ranking_loss(np.zeros((2, 3)))


def test_ranking_loss_gradient_pushes_the_diagonal_up():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("one gradient check suffices (TensorFlow)")
    import tensorflow as tf

    s = tf.zeros((3, 3))
    with tf.GradientTape() as tape:
        tape.watch(s)
        loss = losses.max_margin_ranking_loss(s)
    grad = tape.gradient(loss, s).numpy()
    assert np.all(np.diag(grad) < 0) and np.all(grad[~np.eye(3, dtype=bool)] > 0)


def test_old_import_paths_still_work():
    from keras_vt.layers import doubly_stochastic_penalty, reinforce_loss
    from keras_vt.training import clip_loss
    from keras_vt.training.distillation import hard_distillation_loss

    assert clip_loss is losses.clip_loss and hard_distillation_loss is losses.hard_distillation_loss
    assert doubly_stochastic_penalty is losses.doubly_stochastic_penalty
    assert reinforce_loss is losses.reinforce_loss
