"""Low-precision inference: bfloat16 weights and int8-quantised dense layers.

Two one-liners, both measured against float32 in `benchmarks/bench.py` (`keras-vt bench`):

* **bfloat16**: `keras_vt.create_model(name, dtype="bfloat16")` keeps weights and activations in
  bfloat16 (Keras' normalisation layers and keras_vt's softmax still reduce in float32). On CPUs
  with AVX512_BF16 or AMX the matmuls run on the bfloat16 units through oneDNN on the PyTorch
  backend and on TensorFlow *without* XLA (`model.compile(jit_compile=False)`); XLA on CPU computes
  bfloat16 dots without those units (slower than float32 on the machine we measured).
* **int8**: `keras_vt.precision.quantize(model)` runs Keras' `Model.quantize("int8")` (per-channel
  int8 kernels of every `Dense`/`EinsumDense`, per-token dynamic int8 inputs) and, on the PyTorch
  backend on CPU, routes int8 x int8 matmuls to `torch._int_mm` (oneDNN's VNNI kernel) instead of
  Keras' int32 fallback; results are bit-identical to that fallback. The quantised model saves to
  and reloads from `.keras` like any other. `quantize(model, compile=True)` (PyTorch only) also
  fuses each int8 `Dense`'s inference into one compiled kernel (`compile_int8_dense`): same
  arithmetic, a fraction of the memory passes.
* **PyTorch, the whole model compiled**: `model.compile(jit_compile=True)` makes Keras run
  `predict` through `torch.compile`, which removes Keras' per-layer Python cost (about 18 ms a
  forward pass of a 12-block model, `benchmarks/overhead_torch.py`) and fuses the element-wise
  work. keras_vt's ViT, DeiT, CPVT and CvT trace in one graph (tested) at float32, bfloat16 and,
  after `quantize(model, compile=True)`, int8 (Keras' own int8 path breaks the graph at every
  layer). The first call compiles (tens of seconds to two minutes on 2 cores; torch caches the
  kernels on disk), and so does each new input shape. `fit` too: the whole training step
  (forward, loss, backward, optimizer) compiles, with one graph break at `backward()` (tested on
  a distilled DeiT with its teacher; Keras' SGD adds one in its update, AdamW does not). With a
  CNN in the step (a ResNet teacher), TorchInductor's layout optimization transposes the
  channels-last convolutions' buffers: `TORCHINDUCTOR_LAYOUT_OPTIMIZATION=0` (or
  `torch._inductor.config.layout_optimization = False`) before the first step made a DeiT-S
  distillation step 1.24x faster in our measurement, and ViT inference slower (README).

Example:

>>> model = keras_vt.create_model("vit_tiny_patch16_224", tiny=True)
>>> model = keras_vt.precision.quantize(model)
>>> str(model.get_layer("head").kernel.dtype)
'int8'
"""

import contextlib
import functools
import gc
import warnings

import keras

from keras_vt import checks

MODES = ("int8",)
# Compiled int8 Dense kernels kept per process (one per input shape and activation).
RECOMPILE_LIMIT = 256


def quantize(model, mode="int8", compile=False):
    """Quantises `model`'s dense layers to int8 in place and returns it.

    Args:
        model: a built keras_vt (or any Keras) model.
        mode: `"int8"`, the only mode whose speed keras_vt measures and tests.
        compile: PyTorch backend only: also run `compile_int8_dense`, so that each int8 `Dense`
            quantises its input, multiplies and de-scales in one `torch.compile`d kernel at
            inference (each new input shape compiles once: the first call of ViT-B/16 took
            about 6 s in our measurement; torch caches the kernels on disk). Under
            `model.compile(jit_compile=True)` the same arithmetic traces into the model's one
            compiled graph. On TensorFlow and JAX, XLA (`jit_compile=True`) already fuses these
            steps.

    Returns:
        `model`, quantised. On the PyTorch backend the CPU int8 matmul path is switched on
        (`enable_int8_matmul`).
    """
    checks.check_choice("mode", mode, MODES)
    if compile not in (True, False):
        raise checks.invalid("compile", compile, "True or False")
    if compile and keras.backend.backend() != "torch":
        raise checks.invalid(
            "compile",
            compile,
            f"compile=False on the {keras.backend.backend()!r} backend: compile=True fuses the "
            "int8 layers with torch.compile (PyTorch backend); on TensorFlow and JAX compile the "
            "model with jit_compile=True instead",
        )
    if not isinstance(model, keras.Model):
        raise checks.invalid(
            "model", model, "a keras.Model", problem=f"model of type {type(model).__name__}"
        )
    if not model.built:
        raise checks.invalid(
            "model",
            model.name,
            "a built model: call it once on example inputs first",
            problem=f"model={model.name!r} has not been built",
        )
    with warnings.catch_warnings(), one_collection():
        # Keras warns once per layer type without weights to quantise (LayerNorm, Dropout...).
        warnings.filterwarnings("ignore", message=".*does not have a `quantize` method.*")
        model.quantize(mode)
    if keras.backend.backend() == "torch":
        enable_int8_matmul()
        if compile:
            compile_int8_dense()
    return model


@contextlib.contextmanager
def one_collection():
    """Runs the block with one garbage collection at its end instead of one per dropped variable.

    Keras' `Layer.__delattr__` calls `gc.collect()` for every variable it drops, and quantising a
    layer drops its float kernel: in a process that holds TensorFlow, JAX or PyTorch each
    collection takes about a second, most of the time of quantising or reloading a model.
    """
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = collect
        gc.collect()


def enable_int8_matmul():
    """On the PyTorch backend, computes int8 x int8 `keras.ops.matmul` with `torch._int_mm`.

    Keras uses `torch._int_mm` on CUDA only and otherwise widens both operands to int32, which on
    CPU is several times slower than float32. `torch._int_mm` runs on CPU for any 2-D shape
    (oneDNN, VNNI instructions where present); leading dimensions of the left operand are
    flattened. Exact integer arithmetic either way. Idempotent; a no-op on other backends.
    """
    if keras.backend.backend() != "torch":
        return False
    from keras.src.backend.torch import numpy as torch_numpy

    _wrap_once(torch_numpy, "matmul", _int8_matmul)
    return True


def enable_channels_last_conv():
    """On the PyTorch backend, runs channels-last 2-D convolutions without Keras' layout copies.

    Keras' PyTorch `conv` turns a (batch, height, width, channels) input into a contiguous
    channels-first tensor (one copy) and then back into channels-last memory for oneDNN (a second
    copy), and copies the kernel the same way, on every call. A channels-last tensor permuted to
    (batch, channels, height, width) already *is* PyTorch's channels-last memory format, so this
    passes the permuted views to `torch.nn.functional.conv2d` directly: the same oneDNN kernel on
    the same memory layout, bit-identical outputs and gradients, without the copies. In our
    measurement a ResNet-50 forward pass (batch 8, 224 px, `mixed_bfloat16`) went from 522 ms to
    421 ms. Taken for 4-D inputs on CPU with `padding="valid"` and `data_format="channels_last"`
    (keras_vt's convolutions pad explicitly); anything else keeps Keras' path.

    keras_vt models enable it when they are built on the PyTorch backend. Idempotent; a no-op
    (returns False) on other backends.
    """
    return _wrap_torch_nn("conv", _channels_last_conv)


def enable_strided_attention():
    """On the PyTorch backend, runs `keras.ops.dot_product_attention` on CPU without Keras' copies.

    Keras' PyTorch `dot_product_attention` transposes query, key and value to (batch, heads,
    tokens, head_dim) and, on a CPU (where its flash-attention check, a CUDA one, says no), makes
    each of them contiguous before `scaled_dot_product_attention`: three copies per attention
    layer. PyTorch's CPU attention kernel reads the transposed views as they are, as Hugging
    Face's models call it. This passes the views straight to it: outputs and gradients
    bit-identical to Keras' path (float32 and bfloat16, with and without masks, tested). In our
    measurement DeiT-S's attention (batch 8, 198 tokens, 6 heads) went from 8.0 to 4.5 ms per
    layer. Taken for 4-D CPU tensors of one dtype with as many key as query heads, without
    `bias`, `flash_attention` or `attn_logits_soft_cap`; anything else keeps Keras' path.

    keras_vt models enable it when they are built on the PyTorch backend. Idempotent; a no-op
    (returns False) on other backends.
    """
    return _wrap_torch_nn("dot_product_attention", _strided_attention)


def _strided_attention(keras_attention):
    import torch
    from keras.src.backend.torch.nn import _get_large_negative

    @functools.wraps(keras_attention)
    def dot_product_attention(
        query,
        key,
        value,
        bias=None,
        mask=None,
        scale=None,
        is_causal=False,
        flash_attention=None,
        attn_logits_soft_cap=None,
    ):
        tensors = (query, key, value)
        if (
            bias is not None
            or flash_attention is not None
            or attn_logits_soft_cap is not None
            or not all(isinstance(t, torch.Tensor) and t.ndim == 4 for t in tensors)
            or any(t.device.type != "cpu" or t.dtype != query.dtype for t in tensors)
            or key.shape[2] != query.shape[2]
            or (mask is not None and not isinstance(mask, torch.Tensor))
        ):
            return keras_attention(
                query,
                key,
                value,
                bias=bias,
                mask=mask,
                scale=scale,
                is_causal=is_causal,
                flash_attention=flash_attention,
                attn_logits_soft_cap=attn_logits_soft_cap,
            )
        if mask is not None:  # Keras' own steps: causal folded in, then additive.
            mask = mask.to(torch.bool)
            if is_causal:
                causal = torch.ones((query.shape[1], key.shape[1]), dtype=torch.bool)
                mask = torch.logical_and(mask, torch.tril(causal))
            is_causal = False
            mask = torch.where(mask, 0.0, _get_large_negative(query.dtype))
        outputs = torch.nn.functional.scaled_dot_product_attention(
            query.transpose(1, 2),
            key.transpose(1, 2),
            value.transpose(1, 2),
            attn_mask=mask,
            is_causal=is_causal,
            scale=scale,
        )
        return outputs.transpose(1, 2)

    return dot_product_attention


def _channels_last_conv(keras_conv):
    import torch
    from keras.src.backend.torch.core import convert_to_tensor

    @functools.wraps(keras_conv)
    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = data_format or keras.config.image_data_format()
        if (
            data_format != "channels_last"
            or padding != "valid"
            or not isinstance(inputs, torch.Tensor)
            or inputs.ndim != 4
            or inputs.device.type != "cpu"
        ):
            return keras_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        x = inputs.permute(0, 3, 1, 2)  # a view in channels-last memory format: no copy
        if not x.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        weight = convert_to_tensor(kernel).permute(3, 2, 0, 1)  # (out, in / groups, h, w)
        if x.shape[1] % weight.shape[1]:  # Keras raises its error
            return keras_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        if not weight.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        outputs = torch.nn.functional.conv2d(
            x,
            weight,
            stride=_pair(strides),
            dilation=_pair(dilation_rate),
            groups=x.shape[1] // weight.shape[1],
        )
        return outputs.permute(0, 2, 3, 1)

    return conv


def _wrap_torch_nn(name, wrapper):
    """On the PyTorch backend, wraps Keras' `backend.torch.nn.<name>` once; False elsewhere."""
    if keras.backend.backend() != "torch":
        return False
    from keras.src.backend.torch import nn as torch_nn

    _wrap_once(torch_nn, name, wrapper)
    return True


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _wrap_once(owner, name, wrapper):
    """Replaces `owner.name` by `wrapper(owner.name)`, unless an earlier call already did."""
    current = getattr(owner, name)
    if not getattr(current, "_keras_vt_wrapped", False):
        wrapped = wrapper(current)
        wrapped._keras_vt_wrapped = True
        setattr(owner, name, wrapped)


def _int8_matmul(fallback):
    import torch

    @functools.wraps(fallback)
    def matmul(x1, x2):
        if (
            isinstance(x1, torch.Tensor)
            and isinstance(x2, torch.Tensor)
            and x1.dtype == torch.int8
            and x2.dtype == torch.int8
            and x2.ndim == 2
            and x1.ndim >= 2
            and x1.device.type == "cpu"
        ):
            lead = x1.shape[:-1]
            flat = x1.reshape(-1, x1.shape[-1])
            return torch._int_mm(flat, x2).reshape(*lead, x2.shape[-1])
        return fallback(x1, x2)

    return matmul


def compile_int8_dense():
    """On the PyTorch backend, runs each int8 `Dense` layer's inference as one compiled function.

    Keras' int8 `Dense` computes, op by op, `scale = 127 / (max|x| + eps)` per token,
    `q = int8(clip(round(x * scale), -127, 127))`, `y = (q @ kernel) / (kernel_scale * scale) +
    bias`: about ten passes over the activations in eager PyTorch, more time than the int8 matmul
    itself on a CPU. This compiles exactly that arithmetic with `torch.compile` (Inductor fuses the
    element-wise steps, the layer's activation included, e.g. MLP's GELU; the matmul stays
    `torch._int_mm`). Inductor's vectorised float code can
    round a scale in its last bit differently from eager PyTorch, so an int8 value at a rounding
    boundary can move by one step: on ViT-B/16 (random weights, logits up to 2) the logits moved
    by at most 0.03, far inside int8's own distance from float32. It is taken only for inference
    without gradients (`predict`, or a call under `torch.no_grad()`), for layers without LoRA;
    training and everything else keep Keras' own path. Idempotent; a no-op (returns False) on
    other backends.
    """
    if keras.backend.backend() != "torch":
        return False
    enable_int8_matmul()
    from keras.src.layers.core.dense import Dense

    _wrap_once(Dense, "_int8_call", _compiled_int8_call)
    return True


def _compiled_int8_call(keras_call):
    import torch

    def dense_int8(x, kernel, kernel_scale, bias, epsilon, activation):
        # Keras' abs_max_quantize and Dense._int8_call, step for step.
        scale = (127.0 / (x.abs().amax(-1, keepdim=True) + epsilon)).to(x.dtype)
        q = torch.clip(torch.round(x * scale), -127, 127).to(torch.int8)
        acc = torch._int_mm(q.reshape(-1, q.shape[-1]), kernel)
        y = acc.reshape(*x.shape[:-1], kernel.shape[-1]).to(x.dtype) / (kernel_scale * scale)
        return activation(y if bias is None else y + bias)  # traced in: one pass, not two

    compiled = torch.compile(dense_int8, dynamic=False)

    @functools.wraps(keras_call)
    def call(self, inputs, training=None):
        quantizer = self.inputs_quantizer
        if (
            training
            or torch.is_grad_enabled()
            or self.lora_enabled
            or quantizer is None
            or tuple(getattr(quantizer, "value_range", ())) != (-127, 127)
            or not isinstance(inputs, torch.Tensor)
            or inputs.device.type != "cpu"
            or inputs.ndim < 2
        ):
            return keras_call(self, inputs, training=training)
        bias = None if self.bias is None else self.bias.value
        activation = self.activation or keras.activations.linear
        args = (inputs, self._kernel.value, self.kernel_scale.value, bias)
        args += (float(quantizer.epsilon), activation)
        if torch.compiler.is_compiling():
            # Inside a compiled model (`jit_compile=True`): traced inline into its graph.
            return dense_int8(*args)
        # One compiled kernel per input shape and activation; a model can have more of them
        # (CvT-13: 13) than dynamo's default limit of 8 recompilations of a function, past which
        # it would run every later shape uncompiled.
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return compiled(*args)

    return call
