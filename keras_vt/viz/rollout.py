"""Joint attention across layers: rollout and flow [Abnar & Zuidema, 2020], and grid maps.

Both start from the per-layer attention with the residual connection accounted for,
Ã = rownorm(fuse_heads(A) + I). Rollout multiplies them, R = Ã_L ··· Ã_1; flow solves a max-flow
problem on the layered graph whose edge capacities are the entries of Ã.
"""

import numpy as np

from keras_vt import checks

HEAD_FUSIONS = ("mean", "max", "min")
# solver: (default max_work, estimated seconds per unit of work on one CPU core)
FLOW_SOLVERS = {"networkx": (3e9, 1e-8), "scipy": (2e11, 1.5e-10)}


def _check_maps(maps, argument="maps", square=True):
    if isinstance(maps, np.ndarray) and maps.ndim == 4:
        maps = [maps]
    if not isinstance(maps, (list, tuple)) or not maps:
        raise checks.invalid(
            argument,
            maps,
            "a non-empty list of (batch, heads, queries, keys) arrays (from keras_vt.viz.attention_maps)",
            problem=f"{argument} of type {type(maps).__name__}",
        )
    maps = [np.asarray(m, dtype="float64") for m in maps]
    for index, m in enumerate(maps):
        if m.ndim != 4:
            raise checks.invalid_shape(
                f"{argument}[{index}]",
                m.shape,
                f"{argument}[{index}] of shape (batch, heads, queries, keys)",
            )
        if square and m.shape[2] != m.shape[3]:
            raise ValueError(
                f"{argument}[{index}] has {m.shape[2]} queries but {m.shape[3]} keys: joint "
                "attention needs self-attention over the same tokens in every layer (for CvT, "
                "pass the maps of one stage whose keys are not subsampled)."
            )
        if (m.shape[0], m.shape[2]) != (maps[0].shape[0], maps[0].shape[2]):
            raise ValueError(
                f"{argument}[{index}] has shape {m.shape} but {argument}[0] has shape "
                f"{maps[0].shape}: every layer needs the same batch and number of tokens (pass "
                "the maps of one stage for multi-stage models)."
            )
    return maps


def fuse_heads(attention, head_fusion="mean"):
    """(batch, heads, q, k) -> (batch, q, k) by the mean, max or min over heads."""
    if head_fusion not in HEAD_FUSIONS:
        raise checks.unknown("head_fusion", head_fusion, HEAD_FUSIONS)
    return getattr(np, head_fusion)(np.asarray(attention), axis=1)


def _discard(fused, discard_ratio, protected_tokens):
    """Zeroes the lowest `discard_ratio` of each matrix's weights, protected key columns aside."""
    if not 0.0 <= discard_ratio < 1.0:
        raise checks.invalid("discard_ratio", discard_ratio, "discard_ratio in [0, 1)")
    if discard_ratio == 0.0:
        return fused
    batch, queries, keys = fused.shape
    candidates = fused[:, :, protected_tokens:].reshape(batch, -1)
    count = int(candidates.shape[1] * discard_ratio)
    if count == 0:
        return fused
    lowest = np.argpartition(candidates, count - 1, axis=1)[:, :count]
    np.put_along_axis(candidates, lowest, 0.0, axis=1)
    fused = fused.copy()
    fused[:, :, protected_tokens:] = candidates.reshape(batch, queries, keys - protected_tokens)
    return fused


def residual_attention(maps, head_fusion="mean", discard_ratio=0.0, protected_tokens=1):
    """The per-layer Ã = rownorm(fuse_heads(A) + I), a list of (batch, tokens, tokens) arrays.

    `discard_ratio` zeroes that fraction of the lowest fused weights of each layer before the
    identity is added, never in the first `protected_tokens` key columns (the class token).
    """
    maps = _check_maps(maps)
    if not isinstance(protected_tokens, int) or protected_tokens < 0:
        raise checks.invalid("protected_tokens", protected_tokens, "protected_tokens >= 0")
    result = []
    for attention in maps:
        fused = _discard(fuse_heads(attention, head_fusion), discard_ratio, protected_tokens)
        fused = fused + np.eye(fused.shape[-1])[None]
        result.append(fused / fused.sum(axis=-1, keepdims=True))
    return result


def attention_rollout(
    maps, head_fusion="mean", discard_ratio=0.0, protected_tokens=1, output_tokens=None
):
    """Attention rollout: the joint attention R = Ã_L ··· Ã_1 of the output tokens to the inputs.

    Args:
        maps: list of (batch, heads, tokens, tokens) attention maps in depth order, as returned
            by `keras_vt.viz.attention_maps` (pass `maps[:l]` to roll out the first l layers).
        head_fusion: "mean" (the paper), "max" or "min" over heads.
        discard_ratio: fraction of the lowest weights of each layer set to zero before adding
            the identity (a common denoising option; 0 = the paper's rollout).
        protected_tokens: leading key columns never discarded (1: the class column).
        output_tokens: only these rows of R (e.g. `[0]`, the class token), computed as
            vector-matrix products (cheaper than the full product).

    Returns:
        (batch, tokens, tokens) float32, or (batch, len(output_tokens), tokens); row i is how
        output token i draws on the input tokens; each row sums to 1.

    Example:

    >>> maps = [np.full((1, 2, 5, 5), 0.2) for _ in range(3)]
    >>> keras_vt.viz.attention_rollout(maps).shape
    (1, 5, 5)
    """
    layers = residual_attention(maps, head_fusion, discard_ratio, protected_tokens)
    if output_tokens is None:
        joint = layers[0]
        for layer in layers[1:]:
            joint = layer @ joint
        return joint.astype("float32")
    rows = _check_outputs(output_tokens, layers[0].shape[-1])
    joint = layers[-1][:, rows]
    for layer in reversed(layers[:-1]):
        joint = np.einsum("bik,bkj->bij", joint, layer)
    return joint.astype("float32")


def _check_outputs(output_tokens, tokens):
    outputs = list(range(tokens)) if output_tokens is None else [int(t) for t in output_tokens]
    if not outputs or min(outputs) < 0 or max(outputs) >= tokens:
        raise checks.invalid("output_tokens", output_tokens, f"indices in [0, {tokens})")
    return outputs


def attention_flow(
    maps,
    head_fusion="mean",
    discard_ratio=0.0,
    protected_tokens=1,
    output_tokens=None,
    solver="networkx",
    max_work=None,
):
    """Attention flow: max-flow from each output token to each input token (Edmonds–Karp).

    The layered graph has a node per token and layer; token i of layer l+1 connects to token j of
    layer l with capacity Ã_l[i, j] (residual included, rows normalised). The flow of output i to
    input j is the maximum flow between them; each row is normalised to sum to 1. Flow is exact
    but costly: one max-flow problem per (output, input) pair, each costing roughly (edges)²
    operations. Ask for few `output_tokens` (e.g. `[0]`, the class token), few layers, or prune
    edges with `discard_ratio`.

    Args:
        maps: list of (batch, heads, tokens, tokens) maps, as for `attention_rollout`.
        head_fusion, discard_ratio, protected_tokens: as for `attention_rollout`.
        output_tokens: indices of the output tokens whose flows are computed (default: all).
        solver: "networkx" (Edmonds–Karp in Python on float capacities) or "scipy"
            (`scipy.sparse.csgraph.maximum_flow`, Edmonds–Karp in C, 20-70x faster, on
            capacities rounded to multiples of 2^-20).
        max_work: limit on (max-flow problems) x (graph edges)²; by default 3e9 for networkx
            (about 1e-8 s per unit: half a minute) and 2e11 for scipy (about 1.5e-10 s per
            unit). Beyond it a `ValueError` says what to reduce.

    Returns:
        (batch, len(output_tokens), tokens) float32 (by default (batch, tokens, tokens)); rows
        sum to 1.

    Example:

    >>> maps = [np.full((1, 2, 5, 5), 0.2) for _ in range(2)]
    >>> keras_vt.viz.attention_flow(maps, output_tokens=[0]).shape
    (1, 1, 5)
    """
    if solver not in FLOW_SOLVERS:
        raise checks.unknown("solver", solver, tuple(FLOW_SOLVERS))
    layers = residual_attention(maps, head_fusion, discard_ratio, protected_tokens)
    batch, tokens = layers[0].shape[:2]
    outputs = _check_outputs(output_tokens, tokens)
    edges = max(sum(np.count_nonzero(layer[b]) for layer in layers) for b in range(batch))
    problems = len(outputs) * tokens * batch
    work = float(problems) * float(edges) ** 2
    default_work, seconds_per_unit = FLOW_SOLVERS[solver]
    max_work = default_work if max_work is None else max_work
    if work > max_work:
        raise ValueError(
            f"attention_flow over {len(layers)} layers of {tokens} tokens needs {problems} "
            f"max-flow problems on a graph of {edges} edges: work {work:.2g} > "
            f"max_work={max_work:.2g} (about {work * seconds_per_unit:.0f} s with {solver}). Ask for fewer output_tokens "
            "(e.g. [0] for the class token), fewer layers (maps[-k:]), fewer images, a larger "
            "discard_ratio (prunes edges), raise max_work, or use attention_rollout."
        )
    solve = _flows_scipy if solver == "scipy" else _flows_networkx
    result = np.stack([solve([layer[b] for layer in layers], outputs) for b in range(batch)])
    result /= result.sum(axis=-1, keepdims=True)
    return result.astype("float32")


def _flows_networkx(layers, outputs):
    """(outputs, tokens) max-flow values on one image's layered graph, with networkx."""
    import networkx as nx
    from networkx.algorithms.flow import build_residual_network, edmonds_karp

    tokens = layers[0].shape[-1]
    graph = nx.DiGraph()
    for depth, layer in enumerate(layers):
        queries, keys = np.nonzero(layer)
        graph.add_edges_from(
            ((depth + 1, int(q)), (depth, int(k)), {"capacity": float(c)})
            for q, k, c in zip(queries, keys, layer[queries, keys])
        )
    residual = build_residual_network(graph, "capacity")
    top = len(layers)
    flows = np.zeros((len(outputs), tokens))
    for row, source in enumerate(outputs):
        for target in range(tokens):
            flow = edmonds_karp(
                graph, (top, source), (0, target), residual=residual, value_only=True
            )
            flows[row, target] = flow.graph["flow_value"]
    return flows


_SCIPY_SCALE = 2**20


def _flows_scipy(layers, outputs):
    """(outputs, tokens) max-flow values with scipy's Edmonds–Karp on integer capacities."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    tokens = layers[0].shape[-1]
    nodes = (len(layers) + 1) * tokens
    rows, cols, capacities = [], [], []
    for depth, layer in enumerate(layers):
        queries, keys = np.nonzero(layer)
        rows.append((depth + 1) * tokens + queries)
        cols.append(depth * tokens + keys)
        capacities.append(np.round(layer[queries, keys] * _SCIPY_SCALE))
    graph = csr_matrix(
        (np.concatenate(capacities).astype("int32"), (np.concatenate(rows), np.concatenate(cols))),
        shape=(nodes, nodes),
    )
    top = len(layers) * tokens
    flows = np.zeros((len(outputs), tokens))
    for row, source in enumerate(outputs):
        for target in range(tokens):
            result = maximum_flow(graph, top + source, target, method="edmonds_karp")
            flows[row, target] = result.flow_value / _SCIPY_SCALE
    return flows


def attention_grid(attention, grid, query=0, num_prefix_tokens=None, normalize=True):
    """Turns one query row of an attention matrix into a map over the image's patch grid.

    Args:
        attention: joint attention (batch, tokens, tokens) from rollout or flow, a layer's maps
            (batch, heads, tokens, tokens), or a (batch, 1, tokens) flow row set.
        grid: (height, width) of the patch grid.
        query: the query row, 0 for the class token; "mean" averages the rows of the grid tokens
            (for models without a class token); ignored when there is only one row.
        num_prefix_tokens: key columns before the grid (inferred as keys - height * width).
        normalize: scale each map to [0, 1] (min-max).

    Returns:
        (..., height, width) float32: the attention of the query to each patch.

    Example:

    >>> joint = keras_vt.viz.attention_rollout([np.full((1, 2, 5, 5), 0.2)])
    >>> keras_vt.viz.attention_grid(joint, (2, 2)).shape
    (1, 2, 2)
    """
    attention = np.asarray(attention, dtype="float64")
    gh, gw = (grid, grid) if isinstance(grid, int) else tuple(int(g) for g in grid)
    keys = attention.shape[-1]
    prefix = keys - gh * gw if num_prefix_tokens is None else int(num_prefix_tokens)
    if attention.ndim < 3 or prefix < 0 or prefix + gh * gw != keys:
        raise ValueError(
            f"attention of shape {attention.shape} does not fit grid={(gh, gw)} with "
            f"num_prefix_tokens={num_prefix_tokens}: expected (..., queries, prefix + {gh * gw})."
        )
    if attention.shape[-2] == 1:
        row = attention[..., 0, prefix:]
    elif query == "mean":
        row = attention[..., prefix:, prefix:].mean(axis=-2)
    elif isinstance(query, (int, np.integer)) and 0 <= query < attention.shape[-2]:
        row = attention[..., query, prefix:]
    else:
        raise checks.invalid("query", query, f"a row index in [0, {attention.shape[-2]}) or 'mean'")
    maps = row.reshape(row.shape[:-1] + (gh, gw))
    if normalize:
        low = maps.min(axis=(-2, -1), keepdims=True)
        span = maps.max(axis=(-2, -1), keepdims=True) - low
        maps = (maps - low) / np.where(span > 0, span, 1.0)
    return maps.astype("float32")
