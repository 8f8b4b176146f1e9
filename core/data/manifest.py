"""The EarthAsk manifest: a directory of images, masks and per-task JSONL records, and its typed loader.

Layout of a manifest directory (all paths inside records are relative to it)::

    meta.json              seed, generator version, classes, splits, counts, label provenance
    images/<name>.tif|png  RGB image (GeoTIFF keeps CRS + transform; PNG/JPEG for imported sets)
    masks/<name>.tif|png   uint8 class indices into ``meta.classes``; 255 = ignore (cloud, shadow, nodata)
    instances/<name>.tif   uint16 instance ids (0 = none), when the source has exact instances
    spectral/<name>.tif    real chips only: uint16 reflectance x 10000 of blue, green, red, nir, swir16, swir22
    semantic_db.jsonl      {"text", "level", "image", "scene"}: descriptions for retrieval (train scenes)
    <split>/vqa.jsonl      {"id", "image", "scene", "question", "type", "choices", "answer", "answer_value",
                            "source_type"}; ``type`` is one of QUESTION_TYPES, ``choices`` is null for an
                            open-ended question, else 2-4 strings with the answer among them;
                            ``answer_value`` is the number of a numeric answer (count; area bin centre in %)
    <split>/ground.jsonl   {"id", "image", "scene", "expression", "label", "boxes", "boxes_999", "width",
                            "height"}; ``boxes`` are pixel-edge [x1, y1, x2, y2] (x2, y2 exclusive),
                            ``boxes_999`` the same as integers round(p / size * 999) (models.grounding_text)
    <split>/caption.jsonl  {"id", "image", "scene", "captions": {"scene": [...], "region": [...],
                            "object": [...]}}
    <split>/classify.jsonl {"id", "image", "scene", "label", "labels"}
    <split>/seg.jsonl      {"id", "image", "scene", "mask", "instances"}
    <split>/boxes.jsonl    {"id", "image", "scene", "width", "height", "instances": [{"id", "label", "box",
                            "area_px", "attrs"}]}

``scene`` groups records of one image; splits are made by scene, never by question. JSONL files are
written with a fixed key order and rounded floats, so one seed gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

QUESTION_TYPES = [
    "basic_judging", "reasoning_judging", "basic_counting", "reasoning_counting", "object_situation",
    "comprehensive_analysis",
]
CAPTION_LEVELS = ["scene", "region", "object"]
SPLITS = ["train", "val", "test"]
IGNORE_INDEX = 255
FORMAT_VERSION = 1


@dataclass
class VQARecord:
    id: str
    image: str
    scene: str
    question: str
    type: str  # one of QUESTION_TYPES
    choices: Optional[list[str]]  # None: open-ended
    answer: str
    answer_value: Optional[float] = None  # counts; area ratios as the bin centre in percent
    source_type: str = ""  # the source dataset's own type label (imported sets)


@dataclass
class GroundRecord:
    id: str
    image: str
    scene: str
    expression: str
    label: str
    boxes: list[list[float]]  # pixel-edge [x1, y1, x2, y2]
    boxes_999: list[list[int]]  # round(p / size * 999)
    width: int
    height: int


@dataclass
class CaptionRecord:
    id: str
    image: str
    scene: str
    captions: dict[str, list[str]]  # level -> reference sentences


@dataclass
class ClassifyRecord:
    id: str
    image: str
    scene: str
    label: str
    labels: list[str]


@dataclass
class SegRecord:
    id: str
    image: str
    scene: str
    mask: str
    instances: Optional[str] = None


@dataclass
class BoxesRecord:
    id: str
    image: str
    scene: str
    width: int
    height: int
    instances: list[dict[str, Any]] = field(default_factory=list)  # {"id", "label", "box", "area_px", "attrs"}


@dataclass
class SemanticEntry:
    text: str
    level: str  # one of CAPTION_LEVELS
    image: str = ""  # the scene it describes ("" for general knowledge)
    scene: str = ""


RECORD_TYPES: dict[str, type] = {
    "vqa": VQARecord, "ground": GroundRecord, "caption": CaptionRecord, "classify": ClassifyRecord,
    "seg": SegRecord, "boxes": BoxesRecord,
}
TASKS = list(RECORD_TYPES)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (np.floating, np.integer)):
        return _round(value.item())
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    """One JSON line: dataclass fields in declaration order, floats rounded to 4 decimals."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    return json.dumps(_round(obj), ensure_ascii=False, separators=(", ", ": "))


def write_jsonl(path: Union[str, Path], rows: list[Any]) -> Path:
    """Write rows (dataclasses or dicts) as JSON lines; parent folders are made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def spectral_path(root: Union[str, Path], scene: str) -> Path:
    """Where a benchmark keeps a scene's reflectance bands; only real chips have this file."""
    return Path(root) / "spectral" / f"{scene}.tif"


def read_jsonl(path: Union[str, Path]) -> list[dict[str, Any]]:
    """Rows of a JSONL file (blank lines skipped); [] when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_image(path: Union[str, Path]) -> np.ndarray:
    """An image as float32 [3, H, W] in 0..1.

    uint8 is divided by 255; other integer or float data get a 2-98 percentile stretch per band.
    Single-band images are repeated to three bands; bands beyond the third are dropped.
    """
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with warnings.catch_warnings():  # plain TIFFs (RSVQA) carry no georeferencing: fine for training
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                arr = src.read(indexes=list(range(1, min(src.count, 3) + 1)))
    else:
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB") if im.mode not in ("I;16", "I", "F") else im)
        arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) / 255.0)[:3]
    out = np.empty(arr[:3].shape, dtype=np.float32)
    for b in range(out.shape[0]):
        lo, hi = np.percentile(arr[b], [2, 98])
        out[b] = np.clip((arr[b].astype(np.float32) - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    return out


def load_mask(path: Union[str, Path]) -> np.ndarray:
    """A class-index mask as uint8 [H, W] (255 = ignore)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            return src.read(1).astype(np.uint8)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im).astype(np.uint8)


def load_instances(path: Union[str, Path]) -> np.ndarray:
    """An instance-id map as int32 [H, W] (0 = no instance)."""
    import rasterio

    with rasterio.open(Path(path)) as src:
        return src.read(1).astype(np.int32)


class Manifest:
    """Read access to a manifest directory.

    Example::

        m = Manifest("bench")
        for rec in m.records("vqa", "train"):
            x = m.load_image(rec.image)  # float32 [3, H, W] 0..1
    """

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} not found: not an EarthAsk manifest directory")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))

    @property
    def classes(self) -> list[str]:
        """Land-cover class names by mask index."""
        return list(self.meta["classes"])

    @property
    def splits(self) -> list[str]:
        return [s for s in self.meta.get("splits", SPLITS) if (self.root / s).is_dir()]

    def records(self, task: str, split: str) -> list[Any]:
        """Typed records of ``task`` (one of TASKS) in ``split``; [] when the file is absent."""
        if task not in RECORD_TYPES:
            raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
        cls = RECORD_TYPES[task]
        names = {f.name for f in dataclasses.fields(cls)}
        return [cls(**{k: v for k, v in row.items() if k in names})
                for row in read_jsonl(self.root / split / f"{task}.jsonl")]

    def semantic_db(self) -> list[SemanticEntry]:
        return [SemanticEntry(**row) for row in read_jsonl(self.root / "semantic_db.jsonl")]

    def path(self, relative: str) -> Path:
        """Absolute path of a record's relative path."""
        return self.root / relative

    def load_image(self, relative: str) -> np.ndarray:
        """float32 [3, H, W] 0..1 of a record's image."""
        return load_image(self.path(relative))

    def load_mask(self, relative: str) -> np.ndarray:
        """uint8 [H, W] class indices (255 = ignore) of a record's mask."""
        return load_mask(self.path(relative))

    def load_instances(self, relative: str) -> np.ndarray:
        return load_instances(self.path(relative))
