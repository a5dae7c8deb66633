"""Loading checkpoints of other implementations (Hugging Face, torchvision, timm) into keras_vt.

Nothing is downloaded: converters read local files or in-memory state dicts. State dicts are read
without executing pickled code (safetensors, or `torch.load(weights_only=True)`), and loaded
strictly: a checkpoint that does not match raises one `ValueError` listing missing keys,
unexpected keys and shape mismatches. `convert_checkpoint(src, dst)` picks the converter from the
checkpoint itself.
"""

from keras_vt.convert.api import (
    convert_checkpoint,
    register_hf_converter,
    register_state_dict_converter,
)
from keras_vt.convert.checkpoint import WeightPlan, load_state_dict, read_hf_config
from keras_vt.convert.clip import (
    convert_hf_clip,
    convert_openai_clip,
    hf_clip_config,
    openai_clip_config,
    plan_clip,
)
from keras_vt.convert.hf_cvt import (
    convert_hf_cvt,
    cvt_config_from_hf,
    load_hf_cvt_weights,
    plan_hf_cvt,
)
from keras_vt.convert.hf_resnet import (
    convert_hf_resnet,
    convert_torchvision_resnet,
    hf_resnet_to_torchvision_keys,
    load_torchvision_resnet_weights,
    resnet_config_from_state_dict,
)
from keras_vt.convert.hub import convert_from_hub, load_pretrained, transfer_weights
from keras_vt.convert.vit import (
    HF_VIT_LAYOUT,
    TIMM_VIT_LAYOUT,
    convert_hf_deit,
    convert_hf_vit,
    convert_timm_vit,
    hf_vit_config,
    plan_vit,
    timm_vit_config,
)

register_hf_converter("vit", convert_hf_vit)
register_hf_converter("deit", convert_hf_deit)
register_hf_converter("clip", convert_hf_clip)
register_hf_converter("cvt", convert_hf_cvt)
register_state_dict_converter(
    "OpenAI CLIP",
    lambda keys: {"token_embedding.weight", "ln_final.weight"} <= keys,
    convert_openai_clip,
)
register_state_dict_converter(
    "timm ViT/DeiT", lambda keys: {"patch_embed.proj.weight", "pos_embed"} <= keys, convert_timm_vit
)

from keras_vt.convert.hf_bert import (  # noqa: E402
    bert_config_from_hf,
    convert_hf_bert,
    plan_hf_bert,
)

register_hf_converter("bert", convert_hf_bert)
