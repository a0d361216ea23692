"""lazyfuse.nn.functional: stateless layers and losses."""
from __future__ import annotations

import math

from lazyfuse.runtime import dtypes

from ..autograd.function import shown_as
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from . import convolution


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return x.where(x > 0, x * negative_slope)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Phi the normal distribution's CDF, from erf), or its tanh approximation."""
    if approximate == "tanh":
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())


def silu(x: Tensor) -> Tensor:
    return x * x.sigmoid()


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return x.clamp(min_val, max_val)


def relu6(x: Tensor) -> Tensor:
    return hardtanh(x, 0.0, 6.0)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return x.where(x > 0, alpha * x.expm1())


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x: Tensor) -> Tensor:
    return SELU_SCALE * elu(x, SELU_ALPHA)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return x.where(x > 0, alpha * (x / alpha).expm1())


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x exceeds `threshold`, as in PyTorch."""
    scaled = x * beta
    linear = scaled > threshold
    return x.where(linear, scaled.where(~linear, 0).exp().log1p() / beta)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), from exp(-|x|), which never overflows."""
    return x.where(x < 0, 0) - (-x.abs()).exp().log1p()


def mish(x: Tensor) -> Tensor:
    return x * softplus(x).tanh()


def softsign(x: Tensor) -> Tensor:
    return x / (1 + x.abs())


def hardsigmoid(x: Tensor) -> Tensor:
    return (x / 6 + 0.5).clamp(0.0, 1.0)


def hardswish(x: Tensor) -> Tensor:
    return x * hardsigmoid(x)


def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    return x.where(x > threshold, value)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """The first half of x along dim, gated by the sigmoid of the second."""
    if x.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim} is size {x.shape[dim]}")
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def softmin(x: Tensor, dim: int) -> Tensor:
    return (-x).softmax(dim)


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x divided by its p-norm along dim, at least eps."""
    return x / x.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(x)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / sqrt(max(|x1|^2 |x2|^2, eps^2)) along dim, as PyTorch computes it."""
    squares = (x1 * x1).sum(dim) * (x2 * x2).sum(dim)
    return (x1 * x2).sum(dim) / squares.clamp_min(eps * eps).sqrt()


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last dim, as PyTorch computes it."""
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return x.where((x > lambd) | (x < -lambd), 0.0)


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return (x - lambd).where(x > lambd, (x + lambd).where(x < -lambd, 0.0))


def tanhshrink(x: Tensor) -> Tensor:
    return x - x.tanh()


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x; a weight of several values is per channel (dim 1)."""
    if weight.numel() > 1 and input.ndim >= 2:
        weight = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    return input.where(input > 0, weight * input)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p), when training."""
    return _dropout(x, p, training, x.shape)


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) with probability p, scaling the rest by 1 / (1 - p)."""
    return _channel_dropout(x, p, training, 1)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes whole channels (dim 1 of a batch) with probability p, scaling the rest by 1 / (1 - p)."""
    return _dropout(x, p, training, x.shape[:2] + (1,) * (x.ndim - 2))


def dropout3d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p."""
    return _channel_dropout(x, p, training, 3)


def _channel_dropout(x: Tensor, p: float, training: bool, spatial: int) -> Tensor:
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"dropout{spatial}d: Expected {spatial + 1}D or {spatial + 2}D input, but received a "
                           f"{x.ndim}D input")
    channels = x.ndim - spatial
    return _dropout(x, p, training, x.shape[:channels] + (1,) * spatial)


def _dropout(x: Tensor, p: float, training: bool, drawn: tuple) -> Tensor:
    """Dropout drawing one keep-or-zero per element of a `drawn`-shaped tensor broadcast over x."""
    check_dropout_probability(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    from ..creation import rand
    keep = rand(drawn, dtype=x.dtype, device=x.device) >= p
    return x.where(keep, 0.0) * (1.0 / (1.0 - p))


def check_dropout_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (..., num_classes); num_classes=-1 reads the largest class on the host, as PyTorch does."""
    from ..creation import arange
    if tensor.dtype.kind != "int":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's F.pad: `pad` is (before, after) for the last dim, then the one before
    it, and so on. 'constant' fills with `value` (negative amounts crop); 'reflect',
    'replicate' and 'circular' copy the input's own elements, joined with cat."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most twice the input's dimensions, but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    amounts = [(0, 0)] * (input.ndim - len(pad) // 2) + [(pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
    if mode == "constant":
        cropped = input._shrink((max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(amounts, input.shape))
        grown = tuple((max(b, 0), max(a, 0)) for b, a in amounts)
        out = cropped._pad(grown)
        if value and any(b or a for b, a in grown):
            from ..creation import ones
            inside = ones(cropped.shape, dtype=dtypes.bool_, device=input.device)._pad(grown)
            out = out.where(inside, value)
        return shown_as(out, "ConstantPadNdBackward0", input)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"padding mode {mode!r}: expected 'constant', 'reflect', 'replicate' or 'circular'")
    if value:
        raise ValueError(f"padding mode {mode!r} does not take a value")
    from ..functional import cat
    out = input
    for d, (before, after) in enumerate(amounts):
        n = out.shape[d]
        if min(before, after) < 0 or (mode == "reflect" and max(before, after) >= n) or max(before, after) > n:
            raise RuntimeError(f"{mode} padding of dim {d} (size {n}) by ({before}, {after}) is out of range: "
                               f"amounts must be non-negative and {'below' if mode == 'reflect' else 'at most'} "
                               f"the size")
        if before == after == 0:
            continue
        if mode == "reflect":  # mirrored about the edge element
            pieces = [out.narrow(d, 1, before).flip(d), out, out.narrow(d, n - 1 - after, after).flip(d)]
        elif mode == "replicate":
            edge = [out.narrow(d, 0, 1), out.narrow(d, n - 1, 1)]
            pieces = [e.expand(*(k if i == d else s for i, s in enumerate(e.shape))) for e, k in zip(edge, (before, after))]
            pieces.insert(1, out)
        else:  # circular: the other end's elements
            pieces = [out.narrow(d, n - before, before), out, out.narrow(d, 0, after)]
        out = cat([p for p in pieces if p.shape[d]], d)
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """weight's rows at the indices in input: input.shape + (embedding_dim,). Picks of
    row `padding_idx` send it no gradient, as in PyTorch."""
    for name, value, default in (("max_norm", max_norm, None), ("scale_grad_by_freq", scale_grad_by_freq, False),
                                 ("sparse", sparse, False)):
        if value != default:
            raise NotImplementedError(f"embedding: {name}={value!r} is not supported by lazyfuse")
    flat = input.reshape(-1)
    rows = weight.index_select(0, flat)
    if padding_idx is not None:
        padding_idx = _padding_index(padding_idx, weight.shape[0])
        rows = rows.where((flat != padding_idx).unsqueeze(1), rows.detach())
    return rows.reshape(tuple(input.shape) + (weight.shape[1],))


def _padding_index(padding_idx: int, num_embeddings: int) -> int:
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx % num_embeddings


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution.conv(input, weight, bias, stride, padding, dilation, groups, spatial=1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution.conv(input, weight, bias, stride, padding, dilation, groups, spatial=2)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution.conv(input, weight, bias, stride, padding, dilation, groups, spatial=3)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return convolution.conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return convolution.conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=2)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return convolution.conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=3)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    return convolution.unfold(input, kernel_size, dilation, padding, stride)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    return convolution.fold(input, output_size, kernel_size, dilation, padding, stride)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    return convolution.max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=1)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    return convolution.max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=2)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    return convolution.max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=3)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    return convolution.avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, spatial=1)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    return convolution.avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                                spatial=2)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    return convolution.avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                                spatial=3)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta, as PyTorch
    computes it (the window zero-padded, size // 2 channels before, (size - 1) // 2 after)."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    squares = (input * input).unsqueeze(1)
    squares = squares.reshape(squares.shape[:3] + (-1,))  # (N, 1, C, rest)
    window = avg_pool2d(pad(squares, (0, 0, size // 2, (size - 1) // 2)), (size, 1), stride=1)
    return input / (window.reshape(input.shape) * alpha + k) ** beta


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    from .attention import scaled_dot_product_attention as attend
    return attend(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    from .resampling import interpolate as resample
    return resample(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    return convolution.adaptive_avg_pool(input, output_size, spatial=1)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    return convolution.adaptive_avg_pool(input, output_size, spatial=2)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    return convolution.adaptive_avg_pool(input, output_size, spatial=3)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    return convolution.adaptive_max_pool(input, output_size, 1, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    return convolution.adaptive_max_pool(input, output_size, 2, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    return convolution.adaptive_max_pool(input, output_size, 3, return_indices)


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    return x.log_softmax(dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    out = x @ weight.T
    return out if bias is None else out + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x1^T A_o x2 (+ b_o) for each output o: (..., in1), (..., in2), (out, in1, in2) -> (..., out)."""
    from ..einsum import einsum
    if input1.shape[:-1] != input2.shape[:-1] or weight.ndim != 3 or weight.shape[1:] != (input1.shape[-1], input2.shape[-1]):
        raise RuntimeError(f"bilinear: inputs of sizes {list(input1.shape)} and {list(input2.shape)} do not fit a "
                           f"weight of size {list(weight.shape)} (out, in1, in2)")
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dims: mean, variance and the
    scaled output are one row kernel."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape:
        raise RuntimeError(f"layer_norm: normalized_shape {list(shape)} does not match the trailing dims of input "
                           f"of shape {list(x.shape)}")
    dims = tuple(range(-len(shape), 0))
    centred = x - x.mean(dims, keepdim=True)
    out = centred / ((centred * centred).mean(dims, keepdim=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each sample's channels (dim 1) in `num_groups` groups, each over its
    channels and every later dim, then scale and shift per channel."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise RuntimeError(f"group_norm: expected input of shape (N, C, ...) with C divisible by num_groups="
                           f"{num_groups}, but got input of size {list(x.shape)}")
    grouped = x.reshape(x.shape[0], num_groups, -1)
    out = layer_norm(grouped, grouped.shape[2:], eps=eps).reshape(x.shape)
    per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum=0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) over every other dim: with this batch's statistics
    when training (updating the running ones in place, the variance unbiased, as
    PyTorch does), else with the running ones. `momentum` may be a tensor."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects an input of at least 2 dims (N, C, ...), got {list(input.shape)}")
    channels = input.shape[1]
    dims = (0,) + tuple(range(2, input.ndim))
    per_channel = (1, channels) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
        mean = input.mean(dims, keepdim=True)
        var = ((input - mean) ** 2).mean(dims, keepdim=True)
        if running_mean is not None:
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mean.reshape(channels) * momentum)
                running_var.mul_(1 - momentum).add_(var.reshape(channels) * (momentum * count / (count - 1)))
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction; expected 'mean', 'sum' or 'none'")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    if input.shape != target.shape:
        raise RuntimeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return shown_as(_reduce(diff * diff, reduction), "MseLossBackward0")


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """target * (log(target) - input) per element (input holds log-probabilities; 0 where
    target is 0), or with log_target exp(target) * (target - input); "batchmean" divides
    the sum by the batch size, as the KL divergence's definition asks."""
    if log_target:
        pointwise = target.exp() * (target - input)
    else:
        pointwise = target.xlogy(target) - target * input
    if reduction == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(pointwise, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)."""
    _same_shape("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(d.where(d >= beta, 0.5 * d * d / beta) - (d >= beta).cast(d.dtype) * (0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    _same_shape("huber_loss", input, target)
    d = (input - target).abs()
    return _reduce((0.5 * d * d).where(d <= delta, delta * (d - 0.5 * delta)), reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), each log at least -100, as PyTorch clamps them."""
    _same_shape("binary_cross_entropy", input, target)
    loss = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    return shown_as(_reduce(loss if weight is None else loss * weight, reduction), "BinaryCrossEntropyBackward0")


def _clamped_log(p: Tensor) -> Tensor:
    """log(p), at least -100; its gradient is 0 where it is clamped (p = 0 included)."""
    positive = p > 0
    return p.where(positive, 1.0).log().clamp(min=-100.0).where(positive, -100.0)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """binary_cross_entropy of sigmoid(input), computed stably from the logits:
    (1 - t) x + (1 + (w - 1) t) softplus(-x), softplus(-x) = log(1 + exp(-|x|)) + max(-x, 0)."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    softplus = (1 + (-input.abs()).exp()).log() + (-input).relu()
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    loss = (1 - target) * input + scale * softplus
    return shown_as(_reduce(loss if weight is None else loss * weight, reduction),
                    "BinaryCrossEntropyWithLogitsBackward0")


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{name}: using a target size ({list(target.shape)}) that is different to the input size "
                         f"({list(input.shape)}) is deprecated. Please ensure they have the same size.")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """PyTorch's cross_entropy over logits (N, C) or (C,), with class-index targets
    (rows whose target is ignore_index count for nothing) or class probabilities.
    log_softmax over classes and the target class picked by comparison, in the same
    row kernel: no one-hot matrix, no matmul."""
    if input.ndim == 1:  # one sample
        out = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    probabilities = target.dtype.is_floating_point
    if input.ndim != 2 or (target.shape != input.shape if probabilities else target.shape != input.shape[:1]):
        raise RuntimeError(f"cross_entropy expects input (N, C) with target (N,) of class indices or (N, C) of "
                           f"class probabilities, got {input.shape} and {target.shape}")
    if target.dtype.kind != "int" and not probabilities:
        raise RuntimeError(f"cross_entropy expects integer class targets or float probabilities, got {target.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    classes = input.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise RuntimeError(f"cross_entropy: weight should have one value per class ({classes}), "
                           f"got shape {weight.shape}")
    logp = input.log_softmax(1)
    weighted = logp if weight is None else logp * weight.reshape(1, classes)
    if probabilities:
        if ignore_index != -100:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        loss = -(weighted * target).sum(1)
        return loss.sum() / input.shape[0] if reduction == "mean" else _reduce(loss, reduction)
    nll, counted, row_weights = _class_nll(logp, target, weight, ignore_index)
    loss = nll
    if label_smoothing:  # part of the target spread evenly over the classes
        loss = (1 - label_smoothing) * nll - label_smoothing / classes * weighted.sum(1) * counted
    out = loss.sum() / row_weights.sum() if reduction == "mean" else _reduce(loss, reduction)
    return out if label_smoothing else shown_as(out, "NllLossBackward0")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of class targets (N,) under log-probabilities (N, C)."""
    if input.ndim == 1:
        out = nll_loss(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction)
        return out.squeeze(0) if reduction == "none" else out
    if input.ndim != 2 or target.shape != input.shape[:1] or target.dtype.kind != "int":
        raise RuntimeError(f"nll_loss expects input (N, C) and integer class targets (N,), got {input.shape} "
                           f"and {target.shape} {target.dtype.name}")
    nll, _, row_weights = _class_nll(input, target, weight, ignore_index)
    return shown_as(nll.sum() / row_weights.sum() if reduction == "mean" else _reduce(nll, reduction),
                    "NllLossBackward0")


def _class_nll(logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int):
    """Per row of log-probabilities (N, C): -weight[t] * logp[t] for its class target t
    (picked by comparison: no one-hot matrix), whether the row counts (its target is
    not ignore_index), and its weight in a mean. A target out of range gives NaN, as
    lazyfuse's selections do: raising would need a host read."""
    from ..creation import arange
    classes = logp.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise RuntimeError(f"weight should have one value per class ({classes}), got shape {weight.shape}")
    counted = target != ignore_index
    picked = (target.cast(dtypes.int64).reshape(-1, 1) == arange(classes, device=logp.device).reshape(1, -1)
              ).logical_and(counted.reshape(-1, 1))  # none in an ignored row
    weighted = logp if weight is None else logp * weight.reshape(1, classes)
    nll = (-weighted.where(picked, 0.0).sum(1)).where(((target >= 0) & (target < classes)) | ~counted, math.nan)
    counted = counted.cast(logp.dtype)
    row_weights = counted if weight is None else weight.reshape(1, classes).where(picked, 0.0).sum(1)
    return nll, counted, row_weights
