"""Module, Parameter and the standard layers and losses."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterator

import numpy as np


from lazyfuse.runtime import dtypes
from lazyfuse.runtime.devices import device

from ..autograd.grad_mode import no_grad
from ..tensor import HookHandle, Tensor
from . import functional as F
from . import hooks as module_hooks


class Parameter(Tensor):
    """A tensor that is a module's parameter: a leaf that requires grad."""

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..creation import zeros
            data = zeros(0)
        self._init(data.detach().node, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class: assign Parameters and Modules as attributes, define forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """A tensor that is state but not a parameter (BatchNorm's running statistics):
        in state_dict and moved by to(), never given a gradient."""
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if "_state_computed" not in self.__dict__:
            self._compute_state()
        for position, arg in enumerate(args, 1):
            if isinstance(arg, np.ndarray):  # some layers would compute with it, others fail deep inside
                raise TypeError(f"{type(self).__name__}: argument {position} must be a Tensor, not numpy.ndarray "
                                f"(lazyfuse.tensor(array) or lazyfuse.from_numpy(array) makes one)")
        hooks = self.__dict__.get("_module_hooks")
        if hooks is None:
            return self.forward(*args, **kwargs)
        return module_hooks.call(self, args, kwargs, hooks)

    def _compute_state(self) -> None:
        """Compute the parameters and buffers still lazy (drawn by an initializer), in one
        schedule, before the first call: drawn inside the first step's kernels instead, they
        made those kernels differ from every later step's, and each is compiled once (~0.2 s:
        50 of the ~200 kernels of PyTorch's nn.Transformer tutorial). Tensors holding one value
        (LayerNorms' zero biases are one constant) get buffers of their own: sharing one, they
        made the first step's kernels read one buffer where later steps' read several."""
        from lazyfuse.runtime.devices import backend
        from lazyfuse.runtime.graph import Node
        from lazyfuse.runtime.realize import realize
        state = [t for t in (*self.parameters(), *self.buffers()) if t._base is None]
        realize([t.node for t in state if not t.node.is_realized])
        holders: dict[int, Tensor] = {}
        for t in state:
            node = t.node
            if holders.setdefault(id(node), t) is not t:
                copy = backend(node.device).copy(node.buffer, 0, node.numel * node.dtype.itemsize)
                t._node = Node.from_buffer(copy, node.shape, node.dtype, node.device)
        for module in self.modules():
            object.__setattr__(module, "_state_computed", True)

    def _hook_list(self, kind: str) -> list:
        if self.__dict__.get("_module_hooks") is None:
            object.__setattr__(self, "_module_hooks", module_hooks.new_hooks())
        return self._module_hooks[kind]

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> HookHandle:
        """hook(module, args) before forward; a value it returns replaces args (with_kwargs:
        hook(module, args, kwargs) returning (args, kwargs))."""
        return HookHandle(self._hook_list("forward_pre"), (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> HookHandle:
        """hook(module, args, output) after forward; a value it returns replaces the output
        (with_kwargs: hook(module, args, kwargs, output))."""
        return HookHandle(self._hook_list("forward"), (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> HookHandle:
        """hook(module, grad_input, grad_output) when backward has the gradients of this
        call's tensor inputs (None for those without) and outputs (see nn/hooks.py)."""
        return HookHandle(self._hook_list("backward"), hook, prepend)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """setattr(self, name, param); a None parameter is an attribute only (no parameter)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module") -> None:
        setattr(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        module = self
        for name in target.split(".") if target else []:
            if name not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
            module = module._modules[name]
        return module

    def get_parameter(self, target: str) -> Parameter:
        owner, _, name = target.rpartition(".")
        module = self.get_submodule(owner)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}`")
        return module._parameters[name]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        return iter(self._modules.items())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every module below it, each once, with its dotted name."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        return (m for _, m in self.named_modules())

    def apply(self, fn) -> "Module":
        """fn(m) for every module below this one, then for this one (weight initialisation)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def extra_repr(self) -> str:
        """This module's own settings, shown in its repr, as PyTorch's modules show them."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = (extra.split("\n") if extra else []) + [
            f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        body = "\n  " + "\n  ".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({body})"

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def train(self, mode: bool = True) -> "Module":
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        for name, m in self._modules.items():
            yield from m.named_buffers(prefix + name + ".")

    def buffers(self) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers())

    def to(self, *args, **kwargs) -> "Module":
        """Parameters and buffers moved to a device and floating ones cast to a dtype
        (to(device), to(dtype), to(device, dtype), as Tensor.to takes them)."""
        def convert(t: Tensor) -> Tensor:
            if not t.dtype.is_floating_point:  # integer buffers keep their type, as in PyTorch
                device = next((a for a in (*args, kwargs.get("device")) if a is not None and _is_device(a)), None)
                return t.to(device) if device is not None else t
            return t.to(*args, **kwargs)
        for owner in [self, *self._all_modules()]:
            for name, p in list(owner._parameters.items()):
                setattr(owner, name, Parameter(convert(p.detach()), requires_grad=p.requires_grad))
            for name, b in list(owner._buffers.items()):
                if b is not None:
                    setattr(owner, name, convert(b))
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self) -> "Module":
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        return self.to(dtypes.float64)

    def half(self) -> "Module":
        return self.to(dtypes.float16)

    def _all_modules(self):
        for m in self.children():
            yield m
            yield from m._all_modules()

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Parameters and buffers, each module's own before its children's, as PyTorch orders state_dict."""
        yield from ((prefix + name, p) for name, p in self._parameters.items())
        yield from ((prefix + name, b) for name, b in self._buffers.items() if b is not None)
        for name, m in self._modules.items():
            yield from m._named_state(prefix + name + ".")

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        return OrderedDict((name, t.detach()) for name, t in self._named_state())

    def load_state_dict(self, state: dict) -> None:
        own = dict(self._named_state())
        missing, unexpected = set(own) - set(state), set(state) - set(own)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in loading state_dict: missing keys {sorted(missing)}, "
                               f"unexpected keys {sorted(unexpected)}")
        with no_grad():
            for name, p in own.items():
                value = state[name]
                if tuple(value.shape) != p.shape:
                    raise RuntimeError(f"size mismatch for {name}: copying a param with shape {tuple(value.shape)}, "
                                       f"the shape in current model is {p.shape}")
                p.copy_(value if isinstance(value, Tensor) else np.asarray(value))


def uniform_parameter(shape: tuple[int, ...], fan_in: int, device, dtype) -> Parameter:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's initialisation of a linear or
    convolution layer's weight and bias (Kaiming uniform with a = sqrt(5))."""
    from ..creation import rand
    bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
    return Parameter(rand(shape, device=device, dtype=dtype) * (2 * bound) - bound)


class Linear(Module):
    """y = x @ W.T + b, initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = uniform_parameter((out_features, in_features), in_features, device, dtype)
        self.bias = uniform_parameter((out_features,), in_features, device, dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature, initialised as PyTorch does:
    U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = uniform_parameter((out_features, in1_features, in2_features), in1_features, device, dtype)
        self.bias = uniform_parameter((out_features,), in1_features, device, dtype) if bias else None

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class LayerNorm(Module):
    """Normalises the trailing `normalized_shape` dims, then scales by weight (ones)
    and shifts by bias (zeros), as PyTorch does."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        from ..creation import ones, zeros
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = Parameter(ones(*self.normalized_shape, device=device, dtype=dtype)) if elementwise_affine else None
        self.bias = (Parameter(zeros(*self.normalized_shape, device=device, dtype=dtype))
                     if elementwise_affine and bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalises each sample's channels in groups, then scales by weight (ones) and
    shifts by bias (zeros) per channel, as PyTorch does."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        from ..creation import ones, zeros
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(ones(num_channels, device=device, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_channels, device=device, dtype=dtype)) if affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def _is_device(spec) -> bool:
    return isinstance(spec, device) or (isinstance(spec, str) and spec not in dtypes.BY_NAME)


class _BatchNorm(Module):
    """Normalises each channel (dim 1) over the batch and any further dims, with
    running statistics for evaluation, as PyTorch's BatchNorm does."""

    dims: tuple[int, ...] = ()  # the input ranks a subclass accepts

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        from ..creation import ones, tensor, zeros
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features, device=device, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, device=device, dtype=dtype)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, device=device))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.dims:
            raise ValueError(f"expected {' or '.join(f'{d}D' for d in self.dims)} input (got {x.ndim}D input)")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average: the count is on the device, so its inverse is too
                momentum = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    dims = (4,)


class BatchNorm3d(_BatchNorm):
    dims = (5,)


class _Activation(Module):
    """An elementwise activation: its functional form called with the module's
    `options` ((name, default) pairs, PyTorch's names and order); with inplace=True
    the result is written into the input, as in PyTorch."""

    function = staticmethod(F.relu)
    options: tuple = ()

    def __init__(self, *args, **kwargs):
        super().__init__()
        names = [name for name, _ in self.options]
        # inplace comes after the options, positionally too (PyTorch's nn.ReLU(True), nn.LeakyReLU(0.2, True))
        if len(args) > len(names) + 1 or set(kwargs) - set(names) - {"inplace"}:
            raise TypeError(f"{type(self).__name__} takes the options {names} and inplace")
        values = {**dict(self.options), "inplace": False, **dict(zip(names + ["inplace"], args)), **kwargs}
        for name in names:
            setattr(self, name, values[name])
        self.inplace = values["inplace"]

    def forward(self, x: Tensor) -> Tensor:
        out = self.function(x, *(getattr(self, name) for name, _ in self.options))
        return x.copy_(out) if self.inplace else out

    def extra_repr(self) -> str:
        return ", ".join([f"{name}={getattr(self, name)}" for name, _ in self.options]
                         + (["inplace=True"] if self.inplace else []))


class Hardshrink(_Activation):
    function, options = staticmethod(F.hardshrink), (("lambd", 0.5),)


class Softshrink(_Activation):
    function, options = staticmethod(F.softshrink), (("lambd", 0.5),)


class Tanhshrink(_Activation):
    function = staticmethod(F.tanhshrink)


class ReLU(_Activation):
    function = staticmethod(F.relu)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class LeakyReLU(_Activation):
    function, options = staticmethod(F.leaky_relu), (("negative_slope", 0.01),)


class ReLU6(_Activation):
    function = staticmethod(F.relu6)


class Hardtanh(_Activation):
    function, options = staticmethod(F.hardtanh), (("min_val", -1.0), ("max_val", 1.0))


class ELU(_Activation):
    function, options = staticmethod(F.elu), (("alpha", 1.0),)


class SELU(_Activation):
    function = staticmethod(F.selu)


class CELU(_Activation):
    function, options = staticmethod(F.celu), (("alpha", 1.0),)


class Softplus(_Activation):
    function, options = staticmethod(F.softplus), (("beta", 1.0), ("threshold", 20.0))


class LogSigmoid(_Activation):
    function = staticmethod(F.logsigmoid)


class Mish(_Activation):
    function = staticmethod(F.mish)


class Softsign(_Activation):
    function = staticmethod(F.softsign)


class Hardsigmoid(_Activation):
    function = staticmethod(F.hardsigmoid)


class Hardswish(_Activation):
    function = staticmethod(F.hardswish)


class Threshold(_Activation):
    function, options = staticmethod(F.threshold), (("threshold", 0.0), ("value", 0.0))


class GLU(_Activation):
    function, options = staticmethod(F.glu), (("dim", -1),)


class Softmin(_Activation):
    function, options = staticmethod(F.softmin), (("dim", None),)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    function = staticmethod(F.silu)


class Softmax(Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LocalResponseNorm(Module):
    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Softmax2d(Module):
    """Softmax over the channels (dim -3) of (N, C, H, W) or (C, H, W)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input of 3 or 4 dims, got {x.ndim}")
        return x.softmax(-3)


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return x.log_softmax(self.dim)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Zeroes elements with probability p in training mode; the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        F.check_dropout_probability(p)  # at construction, as PyTorch checks it
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


class Dropout1d(Dropout):
    """Zeroes whole channels of (N, C, L) with probability p in training mode."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zeroes whole channels with probability p in training mode."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class Dropout3d(Dropout):
    """Zeroes whole channels of (N, C, D, H, W) with probability p in training mode."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout3d(x, self.p, self.training)


class CosineSimilarity(Module):
    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class PReLU(Module):
    """max(0, x) + weight * min(0, x), with one learned slope (init 0.25) or one per channel."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        from ..creation import full
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), init, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Embedding(Module):
    """A table of num_embeddings rows of embedding_dim, initialised N(0, 1) as PyTorch
    does (row padding_idx zero, and left without gradient); looking rows up is a
    selection (see lazyfuse/selection.py for its cost)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        from ..creation import randn
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else F._padding_index(padding_idx, num_embeddings)
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, scale_grad_by_freq, sparse
        if _weight is None:
            weight = randn(num_embeddings, embedding_dim, device=device, dtype=dtype)
            if self.padding_idx is not None:
                weight[self.padding_idx] = 0
        elif tuple(_weight.shape) != (num_embeddings, embedding_dim):
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        else:
            weight = _weight.detach()
        self.weight = Parameter(weight, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> "Embedding":
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze)

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class Sequential(Module):
    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def __len__(self) -> int:
        return len(self._modules)


class _Listed:
    """A list view of one of a module's ordered stores (`store`: "_modules" or
    "_parameters"), its items named "0", "1", ...; `_entry` makes what is stored."""

    store = "_modules"

    def _entry(self, value):
        return value

    def _items(self):
        return getattr(self, self.store)

    def append(self, value):
        setattr(self, str(len(self._items())), self._entry(value))
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def __getitem__(self, i: int):
        return list(self._items().values())[i]

    def __setitem__(self, i: int, value) -> None:
        setattr(self, str(range(len(self))[i]), self._entry(value))

    def __iter__(self):
        return iter(self._items().values())

    def __len__(self) -> int:
        return len(self._items())


class _Named:
    """A dict view of one of a module's ordered stores (see _Listed)."""

    store = "_modules"

    def _entry(self, value):
        return value

    def _items(self):
        return getattr(self, self.store)

    def __getitem__(self, key: str):
        return self._items()[key]

    def __setitem__(self, key: str, value) -> None:
        setattr(self, key, self._entry(value))

    def __delitem__(self, key: str) -> None:
        del self._items()[key]
        object.__delattr__(self, key)

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self):
        return iter(self._items())

    def __contains__(self, key: str) -> bool:
        return key in self._items()

    def keys(self):
        return self._items().keys()

    def items(self):
        return self._items().items()

    def values(self):
        return self._items().values()

    def update(self, values) -> None:
        for key, value in (values.items() if hasattr(values, "items") else values):
            self[key] = value

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value


def _as_parameter(value) -> Parameter:
    return value if isinstance(value, Parameter) else Parameter(value)


class ModuleList(_Listed, Module):
    """A list of modules whose parameters the owner sees, as PyTorch's."""

    def __init__(self, modules=()):
        Module.__init__(self)
        self.extend(modules)


class ModuleDict(_Named, Module):
    """Modules by name, whose parameters the owner sees, as PyTorch's."""

    def __init__(self, modules=None):
        Module.__init__(self)
        if modules is not None:
            self.update(modules)


class ParameterList(_Listed, Module):
    """A list of parameters whose owner sees them, as PyTorch's; tensors put in become Parameters."""

    store, _entry = "_parameters", staticmethod(_as_parameter)

    def __init__(self, values=()):
        Module.__init__(self)
        self.extend(values)


class ParameterDict(_Named, Module):
    """Parameters by name whose owner sees them, as PyTorch's; tensors put in become Parameters."""

    store, _entry = "_parameters", staticmethod(_as_parameter)

    def __init__(self, parameters=None):
        Module.__init__(self)
        if parameters is not None:
            self.update(parameters)


class _Loss(Module):
    """A loss module calling its functional form with the module's reduction."""

    function = staticmethod(F.mse_loss)

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self.function(input, target, self.reduction)


class KLDivLoss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MSELoss(_Loss):
    function = staticmethod(F.mse_loss)


class L1Loss(_Loss):
    function = staticmethod(F.l1_loss)


class _LossWithOption(_Loss):
    """A loss whose functional form takes one more option, `option` = (name, default), after the reduction."""

    option = ("beta", 1.0)

    def __init__(self, reduction: str = "mean", **options):
        super().__init__(reduction)
        name, default = self.option
        if set(options) - {name}:
            raise TypeError(f"{type(self).__name__} takes reduction and {name}")
        setattr(self, name, options.get(name, default))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self.function(input, target, self.reduction, getattr(self, self.option[0]))


class SmoothL1Loss(_LossWithOption):
    function, option = staticmethod(F.smooth_l1_loss), ("beta", 1.0)


class HuberLoss(_LossWithOption):
    function, option = staticmethod(F.huber_loss), ("delta", 1.0)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight


class BCELoss(_WeightedLoss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight: Tensor | None = None, reduction: str = "mean", pos_weight: Tensor | None = None):
        super().__init__(weight, reduction)
        self.pos_weight = pos_weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)
