"""minidl: a readable deep-learning engine in numpy with PyTorch's API and numbers.

    import minidl
    x = minidl.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    y = (x @ x.T).relu().sum()
    y.backward()
    x.grad
"""

from minidl import autograd, dtypes, random
from minidl.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from minidl.backend import Device as device
from minidl.backend import memory as _memory
from minidl.backend.threads import get_num_threads, set_num_threads
from minidl.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from minidl.dtypes import (
    bool,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from minidl.dtypes import dtype as dtype
from minidl.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from minidl.ops.elementwise import (
    abs,
    add,
    ceil,
    clamp,
    cos,
    div,
    exp,
    expm1,
    floor,
    isfinite,
    isinf,
    isnan,
    log,
    log1p,
    masked_fill,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    reciprocal,
    round,
    rsqrt,
    sign,
    sin,
    sqrt,
    square,
    sub,
    trunc,
    where,
)
from minidl.ops.linalg import bmm, dot, matmul, mm
from minidl.ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from minidl.ops.shape import (
    cat,
    chunk,
    flatten,
    flip,
    gather,
    index_select,
    narrow,
    pad,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
)
from minidl.random import Generator, initial_seed, manual_seed, seed
from minidl.serialization import load, save
from minidl.tensor import Size, Tensor

float = float32
double = float64
long = int64
int = int32
half = float16
concat = cat
clip = clamp

__version__ = "0.1.0"

_memory.apply_environment()  # keep freed memory for the next step's arrays (minidl/backend/memory.py)

# the subpackages, reachable after `import minidl` as torch.nn is after `import torch`
from minidl import cuda, data, landscapes, metrics, models, nn, optim, profiler, train  # noqa: E402


def is_tensor(obj: object) -> "builtins.bool":  # noqa: F821
    """True when ``obj`` is a minidl Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> "builtins.int":  # noqa: F821
    """The number of elements of ``input``."""
    return input.numel()


def clone(input: Tensor) -> Tensor:
    """A differentiable copy of ``input``."""
    return input.clone()


def detach(input: Tensor) -> Tensor:
    """``input``'s data outside the graph (shared, not copied)."""
    return input.detach()
