"""``python -m minidl.landscapes``: see :mod:`minidl.landscapes.cli`."""

from minidl.landscapes.cli import main

raise SystemExit(main())
