"""``minidl.nn.utils``: gradient clipping, and the conv/pool output-size rule the layers use."""

from minidl.backend.im2col import conv_output_size
from minidl.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
