"""Looking inside: attention maps and what the models learn (numpy in, numpy out)."""

from keras_vt.viz.maps import attention_maps, attention_model
