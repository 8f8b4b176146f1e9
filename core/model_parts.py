"""The model's parts, loaded when a task needs them: the segmenter alone first, the full model on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from core.models_io import (
    DEFAULT_MODEL_DIR,
    LoadedModel,
    check_checkpoint,
    load_model,
    load_or_explain,
    model_id_of,
    offline,
)

BUILD_LOCK = threading.RLock()  # one model built at a time: builds seed torch's global generator (fork_rng)


def built(load: Callable[[], Any]) -> Any:
    """``load()`` while no other thread builds a model (see ``BUILD_LOCK``)."""
    with BUILD_LOCK:
        return load()


class Background:
    """``load()`` run in a daemon thread, started at once; :meth:`result` waits and raises its error here."""

    def __init__(self, load: Callable[[], Any], name: str) -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(load,), name=name, daemon=True)
        self._thread.start()

    def _run(self, load: Callable[[], Any]) -> None:
        try:
            self._value = load()
        except BaseException as exc:  # raised again by result() in the thread that needs the value
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def refiner_in_background(model: str, classes: list[str], device: str, backend: str = "torch") -> Background:
    """The model's spectral refiner: checked against ``classes`` now (from its config, no torch), loaded in a
    daemon thread while the first batch predicts. On the ``onnx`` backend it runs from its cached ONNX export
    (torch is imported only to make that export, once); otherwise it is the torch refiner."""
    from core.imagery import refiner

    folder = refiner.refiner_dir(model)
    assert folder is not None, "a spectral profile needs a refiner"
    refiner.check_refiner(folder, classes)
    if backend == "onnx":
        return Background(lambda: built(lambda: refiner.onnx_refiner(folder, classes, device)), "earthask-load-refiner")
    return Background(lambda: built(lambda: refiner.load_refiner(folder, classes, device)), "earthask-load-refiner")


class SegmenterPart:
    """What segmentation and measured answers need: the checkpoint's config and its segmenter (no language model).

    The torch segmenter itself loads on first use of :attr:`segmenter`: a segmentation through an ONNX export
    made earlier from the same checkpoint needs only the config (and never imports torch).
    """

    def __init__(self, cfg: Any, model_id: str, directory: Optional[Path], notes: list[str],
                 segmenter: Any = None, load: Optional[Callable[[], Any]] = None) -> None:
        self.cfg = cfg  # models.config.VLMConfig of the whole checkpoint (classes, image size, trained GSD...)
        self.model_id = model_id
        self.directory = directory  # checkpoint directory, None for tiny / untrained
        self.notes = notes  # shared with the full model once it loads
        self._segmenter = segmenter
        self._load = load

    @property
    def classes(self) -> list[str]:
        return list(self.cfg.seg_classes)

    @property
    def segmenter_loaded(self) -> bool:
        return self._segmenter is not None

    @property
    def segmenter(self) -> Any:
        """The models.segmenter.Segmenter on the engine's device, in eval mode (loaded on first use)."""
        if self._segmenter is None:
            assert self._load is not None, "a part without a segmenter needs a loader"
            self._segmenter = self._load()
        return self._segmenter


def _part_of(loaded: LoadedModel) -> SegmenterPart:
    """The segmenter part of a full model already loaded (the same module, not a copy)."""
    model = loaded.model
    return SegmenterPart(model.cfg, loaded.model_id, loaded.directory, loaded.notes, segmenter=model.segmenter)


def load_segmenter_part(name: str, device: str, seed: int = 0, load: Optional[Callable[[Path], Any]] = None,
                        ) -> tuple[SegmenterPart, Optional[LoadedModel]]:
    """The segmenter part of ``default``, ``tiny`` or a checkpoint folder, without building the language model.

    A checkpoint folder (the default one included) reads its config now and, when the segmenter is used, only
    its segmenter tensors (about 0.4 s instead of 8 s for the whole model). ``tiny`` and an untrained default
    have no checkpoint to read from: their full model is built (the tiny one is small) and returned too, so it
    is never built twice. ``load(directory)`` loads the torch segmenter (default: :func:`segmenter_alone`).

    Raises:
        InputError: a checkpoint folder that does not exist, is not a checkpoint, or whose config does not load
            (its tensors are checked when the segmenter loads, with the same one-sentence errors).
    """
    if name == "tiny" or (name == "default" and not (DEFAULT_MODEL_DIR / "config.json").is_file()):
        loaded = built(lambda: load_model(name, device, seed))
        return _part_of(loaded), loaded
    offline()
    from models.config import VLMConfig

    directory = DEFAULT_MODEL_DIR if name == "default" else Path(name).expanduser()
    check_checkpoint(directory)
    cfg = load_or_explain(lambda: VLMConfig.load(directory), directory)
    loader = load or (lambda folder: segmenter_alone(folder, device))
    return SegmenterPart(cfg, model_id_of(directory), directory, [], load=lambda: loader(directory)), None


def segmenter_alone(directory: Path, device: str) -> Any:
    """The checkpoint's torch segmenter, without the language model (one-sentence errors, as the full model's)."""
    from models.segmenter import load_segmenter

    return built(lambda: load_or_explain(lambda: load_segmenter(directory, device), directory))


class ModelParts:
    """Loads the segmenter on first use, and the full model only when a task needs the language side.

    :meth:`preload` starts loading the full model in a background thread (e.g. while a segmentation runs, so
    a first model answer waits for the slower of the two, not their sum); :attr:`full` waits for it, or loads
    it there and then. Both loads build modules under a fixed torch seed (``fork_rng``), so the background
    load is only started once the segmenter part is loaded, and never twice.
    """

    def __init__(self, name: str, device: str, seed: int = 0) -> None:
        self.name, self.device, self.seed = name, device, seed
        self._part: Optional[SegmenterPart] = None
        self._full: Optional[LoadedModel] = None
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._lock = threading.Lock()

    @property
    def part(self) -> SegmenterPart:
        """The segmenter part (loaded on first use; taken from the full model when that loaded first)."""
        if self._part is None:
            if self._full is not None:
                self._part = _part_of(self._full)
            else:
                self._part, self._full = load_segmenter_part(self.name, self.device, self.seed, self._load_segmenter)
        return self._part

    def _load_segmenter(self, directory: Path) -> Any:
        """The torch segmenter alone; the full model's when that is loaded or loading (never two builds at once)."""
        with self._lock:
            busy = self._thread is not None or self._full is not None
        return self.full.model.segmenter if busy else segmenter_alone(directory, self.device)

    @property
    def any_loaded(self) -> bool:
        """Whether any part has loaded (or is loading in the background)."""
        return self._part is not None or self._full is not None or self._thread is not None

    @property
    def full_loaded(self) -> bool:
        """Whether the full model is loaded (a background load still running counts as not loaded)."""
        return self._full is not None

    def preload(self) -> None:
        """Start loading the full model in a background thread, unless it is loaded or loading already."""
        _ = self.part
        with self._lock:
            if self._full is not None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._load_full, name="earthask-load-model", daemon=True)
            self._thread.start()

    def _load_full(self) -> None:
        try:
            loaded = built(lambda: load_model(self.name, self.device, self.seed))
        except BaseException as exc:  # raised again by ``full`` in the thread that needs the model
            self._error = exc
            return
        self._merge(loaded)

    def _merge(self, loaded: LoadedModel) -> None:
        """Share one list of notes between the two parts (the segmenter's were there first)."""
        part = self._part
        if part is not None:
            part.notes.extend(n for n in loaded.notes if n not in part.notes)
            loaded.notes = part.notes
            if not part.segmenter_loaded:  # one segmenter in memory, not two
                part._segmenter = loaded.model.segmenter
        self._full = loaded

    @property
    def full(self) -> LoadedModel:
        """The whole model (language model included): waits for a background load, else loads it now."""
        if self._full is None:
            with self._lock:
                thread = self._thread
            if thread is not None:
                thread.join()
                with self._lock:
                    self._thread = None
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
            if self._full is None:
                _ = self.part  # the segmenter first: the two loads never build modules at once
                if self._full is None:
                    self._merge(built(lambda: load_model(self.name, self.device, self.seed)))
        assert self._full is not None
        return self._full

    def wait(self) -> None:
        """Wait for a background load to end (its error, if any, stays for :attr:`full` to raise)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()
