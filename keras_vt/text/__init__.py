"""Tokenizers for CLIP text towers. TensorFlow-only (tensorflow-text, through keras-hub).

They run eagerly, inside `tf.data` pipelines (under any Keras backend) and inside exported
TensorFlow graphs; they return int32 (batch, context_length) token ids with start and end tokens,
padded with id 0. Imported lazily: `import keras_vt` does not need TensorFlow Text.
"""

from keras_vt.text.tokenizers import CaptionTokenizer, ClipTokenizer, train_caption_tokenizer
from keras_vt.text.wordpiece import BertTokenizer, read_vocabulary  # noqa: E402
