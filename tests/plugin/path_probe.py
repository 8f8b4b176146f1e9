"""A stand-in engine that reports where its process imports from: for the engine interpreter's sys.path tests."""

from __future__ import annotations

import importlib.util
import os
import sys


class PathProbe:
    """Built from an EngineConfig like the real Engine; ``where`` says which interpreter, paths and modules it sees."""

    def __init__(self, config) -> None:
        self.config = config

    def where(self, names: list[str], progress=None, cancelled=None) -> dict:
        """sys.executable, sys.prefix, sys.path, the origin of each module in ``names`` (None: not importable) and
        the ``ORIGIN`` of ``earthask_probe_pkg`` as this process imports it."""
        origins = {}
        for name in names:
            spec = importlib.util.find_spec(name)
            origins[name] = spec.origin if spec is not None else None
        try:
            import earthask_probe_pkg

            probe = earthask_probe_pkg.ORIGIN
        except ImportError:
            probe = None
        return {"executable": sys.executable, "prefix": sys.prefix, "sys_path": list(sys.path), "modules": origins,
                "probe": probe, "pid": os.getpid(), "pythonpath": os.environ.get("PYTHONPATH")}
