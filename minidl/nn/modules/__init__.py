"""The layers of ``minidl.nn``, one module per family (as torch.nn.modules)."""
