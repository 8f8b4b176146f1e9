"""Datasets for EarthAsk: the manifest format, the offline benchmark builder and public-format readers.

``Manifest(dir).records(task, split)`` gives typed records; ``python -m core.data build --out DIR`` builds
the benchmark; ``python -m core.data convert --format earthvqa|rsvqa|dior-rsvg|captions`` imports a public
set. Importing this package loads nothing heavy (no torch, rasterio or scipy).
"""

from core.data.manifest import (
    CAPTION_LEVELS,
    QUESTION_TYPES,
    SPLITS,
    TASKS,
    BoxesRecord,
    CaptionRecord,
    ClassifyRecord,
    GroundRecord,
    Manifest,
    SegRecord,
    SemanticEntry,
    VQARecord,
    load_image,
    load_mask,
)

__all__ = [
    "CAPTION_LEVELS", "QUESTION_TYPES", "SPLITS", "TASKS", "BoxesRecord", "CaptionRecord", "ClassifyRecord",
    "GroundRecord", "Manifest", "SegRecord", "SemanticEntry", "VQARecord", "load_image", "load_mask",
]
