"""``minidl.optim``: optimisers and learning-rate schedulers equal to torch.optim."""

from minidl.optim import lr_scheduler
from minidl.optim.algorithms import SGD, Adagrad, Adam, AdamW, NAdam, RMSprop
from minidl.optim.optimizer import Optimizer
