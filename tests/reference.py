"""Trainable parameter counts of the full-size configurations (224 px, 1000 classes), from
shared REFERENCE.md: counted on the reference implementations (Hugging Face / timm / torchvision).
"""

REFERENCE_PARAMS = {
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
    "vit_base_patch32_224": 88_224_232,
    "vit_large_patch16_224": 304_326_632,
    "vit_huge_patch14_224": 632_045_800,
    "deit_tiny_patch16_224": 5_717_416,
    "deit_small_patch16_224": 22_050_664,
    "deit_base_patch16_224": 86_567_656,
    "deit_tiny_distilled_patch16_224": 5_910_800,
    "deit_small_distilled_patch16_224": 22_436_432,
    "deit_base_distilled_patch16_224": 87_338_192,
    "deit_base_distilled_patch16_384": 87_630_032,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "cvt_13": 19_997_480,
    "cvt_21": 31_622_696,
    "cvt_w24": 277_196_392,
    "clip_vit_b32": 151_277_313,
    "clip_vit_b16": 149_620_737,
    "clip_vit_l14": 427_616_513,
    # Hugging Face BertModel (pooler included).
    "bert_base_uncased": 109_482_240,
    "bert_base_cased": 108_310_272,
}
