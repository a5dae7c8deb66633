"""Loading checkpoints of other implementations (Hugging Face, torchvision, timm) into keras_vt.

Converters take in-memory state dicts or model objects (nothing is downloaded) and return keras_vt
models, raising a `ValueError` that lists missing keys, unexpected keys and shape mismatches when a
checkpoint does not match the architecture.
"""

from keras_vt.convert.hf_cvt import (
    convert_hf_cvt,
    cvt_config_from_hf,
    hf_cvt_mapping,
    load_hf_cvt_weights,
)
from keras_vt.convert.hf_resnet import (
    convert_hf_resnet,
    convert_torchvision_resnet,
    hf_resnet_to_torchvision_keys,
    load_torchvision_resnet_weights,
    resnet_config_from_state_dict,
)

__all__ = [
    "convert_hf_cvt",
    "cvt_config_from_hf",
    "hf_cvt_mapping",
    "load_hf_cvt_weights",
    "convert_hf_resnet",
    "convert_torchvision_resnet",
    "hf_resnet_to_torchvision_keys",
    "load_torchvision_resnet_weights",
    "resnet_config_from_state_dict",
]
