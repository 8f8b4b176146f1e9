"""Readers for public formats (EarthVQA/EarthVLSet, RSVQA LR/HR, DIOR-RSVG, RSICD-style captions) to manifest records.

Each reader returns an :class:`ImportedSet` whose records point at the source files (absolute paths);
:func:`write_manifest` writes a manifest directory whose records reference them by relative path (images
are not copied; EarthVQA masks are re-indexed and written, since LoveDA counts classes from 1).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from core.data.manifest import (
    FORMAT_VERSION,
    IGNORE_INDEX,
    TASKS,
    CaptionRecord,
    GroundRecord,
    SegRecord,
    VQARecord,
    dumps,
    write_jsonl,
)
from models.config import EARTHVQA_CLASSES
from models.grounding_text import to_0_999

PathLike = Union[str, os.PathLike]
_EARTHVQA_TYPES = {
    "basic_judging": "basic_judging", "reasoning_based_judging": "reasoning_judging",
    "reasoning_judging": "reasoning_judging", "basic_counting": "basic_counting",
    "reasoning_based_counting": "reasoning_counting", "reasoning_counting": "reasoning_counting",
    "object_situation_analysis": "object_situation", "object_situation": "object_situation",
    "comprehensive_analysis": "comprehensive_analysis",
}
RSVQA_TYPES = {  # RSVQA's question types mapped onto EarthVQA's six (the original kept in source_type)
    "presence": "basic_judging", "comp": "reasoning_judging", "comparison": "reasoning_judging",
    "rural_urban": "reasoning_judging", "count": "basic_counting", "area": "reasoning_counting",
}
_BIN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*-\s*(\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(m2|m²)?\s*$", re.IGNORECASE)
_IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass
class ImportedSet:
    """Records of an imported dataset by split and task; image paths are absolute."""

    source: str  # format name
    root: Path
    classes: list[str]
    records: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    mask_lut: Optional[np.ndarray] = None  # uint8[256]: source mask value -> class index (255 = ignore)
    notes: list[str] = field(default_factory=list)

    def add(self, split: str, task: str, record: Any) -> None:
        self.records.setdefault(split, {}).setdefault(task, []).append(record)


def answer_value(answer: str) -> Optional[float]:
    """The number of a numeric answer: "3" -> 3.0, "10%-20%" -> 15.0 (bin centre), "120m2" -> 120.0."""
    m = _BIN.match(answer)
    if m:
        return (float(m.group(1)) + float(m.group(2))) / 2
    m = _NUMBER.match(answer)
    return float(m.group(1)) if m else None


def normalise_type(text: str) -> str:
    """EarthVQA type label in any spelling ("Reasoning-based Judging", "Basic_Counting") -> ours."""
    key = re.sub(r"[^a-z]+", "_", text.lower()).strip("_")
    if key not in _EARTHVQA_TYPES:
        raise ValueError(f"unknown EarthVQA question type {text!r}")
    return _EARTHVQA_TYPES[key]


def _find_dir(root: Path, names: tuple[str, ...]) -> Optional[Path]:
    lowered = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    for n in names:
        if n.lower() in lowered:
            return lowered[n.lower()]
    return None


def _find_image(folder: Path, stem: str) -> Path:
    for ext in _IMAGE_EXTS:
        if (folder / f"{stem}{ext}").exists():
            return folder / f"{stem}{ext}"
    return folder / f"{stem}.tif"


def read_earthvqa(root: PathLike) -> ImportedSet:
    """EarthVQA / EarthVLSet: ``<Split>/images_png``, ``<Split>/masks_png`` (LoveDA indices: 0 no-data,
    1 background .. 8 playground) and a QA JSON per split (``<Split>_QA.json`` in the root or the split
    folder) keyed by image file name with entries {"Type", "Question", "Answer"} (+ optional "Choices")."""
    root = Path(root).resolve()
    out = ImportedSet("earthvqa", root, list(EARTHVQA_CLASSES))
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[1:len(EARTHVQA_CLASSES) + 1] = np.arange(len(EARTHVQA_CLASSES), dtype=np.uint8)
    out.mask_lut = lut
    jsons = sorted(root.glob("*.json")) + sorted(root.glob("*/*.json"))
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = {"train": "train", "val": "val", "valid": "val", "test": "test"}.get(split_dir.name.lower())
        if split is None:
            continue
        images = _find_dir(split_dir, ("images_png", "images"))
        masks = _find_dir(split_dir, ("masks_png", "masks"))
        qa_path = next((j for j in jsons if j.stem.lower().startswith(split_dir.name.lower())
                        and "qa" in j.stem.lower()), None)
        qa = json.loads(qa_path.read_text(encoding="utf-8")) if qa_path else {}
        names = sorted(set(qa) | ({p.name for p in images.iterdir()} if images else set()))
        for name in names:
            stem = Path(name).stem
            image = str((images or split_dir) / name)
            if masks is not None and (masks / name).exists():
                out.add(split, "seg", SegRecord(f"{stem}/seg", image, stem, str(masks / name)))
            for k, entry in enumerate(qa.get(name, [])):
                choices = entry.get("Choices") or entry.get("Options") or entry.get("choices")
                ans = str(entry["Answer"])
                out.add(split, "vqa", VQARecord(
                    f"{stem}/q{k:03d}", image, stem, str(entry["Question"]), normalise_type(entry["Type"]),
                    [str(c) for c in choices] if choices else None, ans, answer_value(ans), str(entry["Type"])))
    return out


def read_rsvqa(root: PathLike) -> ImportedSet:
    """RSVQA LR/HR: ``{LR,HR}_split_<split>_{questions,answers,images}.json`` and an image folder
    (``Images_LR``, ``Data``, ``Images`` or ``images``) with ``<image id>.tif``. Inactive entries are skipped."""
    root = Path(root).resolve()
    out = ImportedSet("rsvqa", root, list(EARTHVQA_CLASSES))
    out.notes.append("RSVQA types mapped to EarthVQA's: " + ", ".join(f"{k}->{v}" for k, v in RSVQA_TYPES.items())
                     + "; area answers in m2")
    for qpath in sorted(root.glob("*_split_*_questions.json")):
        prefix, split = re.match(r"(.+?)_split_(.+)_questions", qpath.stem).groups()  # type: ignore[union-attr]
        folder = _find_dir(root, (f"Images_{prefix}", "Data", "Images", "images")) or root
        questions = json.loads(qpath.read_text(encoding="utf-8"))["questions"]
        answers_path = qpath.with_name(qpath.name.replace("_questions", "_answers"))
        answers = {a["id"]: a for a in json.loads(answers_path.read_text(encoding="utf-8"))["answers"]}
        for q in questions:
            if not q.get("active", True) or not q.get("answers_ids"):
                continue
            ans = answers[q["answers_ids"][0]]
            if not ans.get("active", True):
                continue
            kind = str(q["type"])
            if kind not in RSVQA_TYPES:
                raise ValueError(f"unknown RSVQA question type {kind!r} in {qpath.name}")
            image = str(_find_image(folder, str(q["img_id"])))
            text = str(ans["answer"])
            out.add(split, "vqa", VQARecord(
                f"{prefix}_{q['id']}", image, f"{prefix}_{q['img_id']}", str(q["question"]), RSVQA_TYPES[kind], None,
                text, answer_value(text), kind))
    return out


def read_dior_rsvg(root: PathLike) -> ImportedSet:
    """DIOR-RSVG: ``Annotations/*.xml`` (VOC-like, one <object> per expression with <name>, <bndbox>,
    <description>), ``JPEGImages/``, and optional ``train/val/test.txt`` of global object indices, counted
    over the annotation files in sorted order. The official split is by expression, not by image."""
    root = Path(root).resolve()
    out = ImportedSet("dior-rsvg", root, list(EARTHVQA_CLASSES))
    split_of: dict[int, str] = {}
    for split in ("train", "val", "test"):
        path = root / f"{split}.txt"
        if path.exists():
            split_of.update({int(t): split for t in path.read_text().split()})
    if split_of:
        out.notes.append("DIOR-RSVG's official split is by expression: one image can be in several splits")
    images = _find_dir(root, ("JPEGImages", "images")) or root
    index = 0
    for xml in sorted((_find_dir(root, ("Annotations",)) or root).glob("*.xml")):
        ann = ET.parse(xml).getroot()
        filename = ann.findtext("filename") or f"{xml.stem}.jpg"
        width, height = int(ann.findtext("size/width") or 0), int(ann.findtext("size/height") or 0)
        if not width or not height:
            from PIL import Image

            with Image.open(images / filename) as im:
                width, height = im.size
        for obj in ann.findall("object"):
            box = [float(obj.findtext(f"bndbox/{k}") or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
            split = split_of.get(index, "train") if split_of else "train"
            if not split_of or index in split_of:
                out.add(split, "ground", GroundRecord(
                    f"{xml.stem}/o{index:06d}", str(images / filename), Path(filename).stem,
                    (obj.findtext("description") or "").strip(), (obj.findtext("name") or "").strip(),
                    [box], [list(to_0_999(box, width, height))], width, height))
            index += 1
    return out


def read_captions(json_path: PathLike, images: Optional[PathLike] = None) -> ImportedSet:
    """UCM / NWPU / RSICD-style captions: {"images": [{"filename", "split", "sentences": [{"raw"}]}]};
    the image folder defaults to ``images/`` (or ``imgs/``) beside the JSON, else the JSON's folder."""
    json_path = Path(json_path).resolve()
    data = json.loads(json_path.read_text(encoding="utf-8"))
    entries = data["images"] if isinstance(data, dict) else data
    if images is None:
        first = entries[0]["filename"] if entries else ""
        images = next((d for d in (json_path.parent / "images", json_path.parent / "imgs", json_path.parent)
                       if (d / first).exists()), json_path.parent)
    folder = Path(images).resolve()
    out = ImportedSet("captions", json_path.parent, list(EARTHVQA_CLASSES))
    for e in entries:
        split = {"train": "train", "restval": "train", "val": "val", "valid": "val", "test": "test"}.get(
            str(e.get("split", "train")).lower(), "train")
        stem = Path(e["filename"]).stem
        texts = [s["raw"].strip() for s in e.get("sentences", []) if s.get("raw", "").strip()]
        out.add(split, "caption", CaptionRecord(f"{stem}/caption", str(folder / e["filename"]), stem,
                                                {"scene": texts}))
    return out


READERS = {"earthvqa": read_earthvqa, "rsvqa": read_rsvqa, "dior-rsvg": read_dior_rsvg}


def read(fmt: str, src: PathLike, images: Optional[PathLike] = None) -> ImportedSet:
    """Dispatch on a format name (earthvqa, rsvqa, dior-rsvg, captions)."""
    if fmt == "captions":
        return read_captions(src, images)
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {sorted(READERS) + ['captions']}")
    return READERS[fmt](src)


def write_manifest(imported: ImportedSet, out: PathLike) -> dict[str, Any]:
    """Write ``imported`` as a manifest directory at ``out``; returns its meta.json content."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    def rel(path: str) -> str:  # relative when source and manifest share a folder, else absolute
        return path if os.path.commonpath([path, out]) == os.sep else os.path.relpath(path, out)

    counts: dict[str, dict[str, int]] = {}
    for split, tasks in sorted(imported.records.items()):
        counts[split] = {}
        for task in TASKS:
            rows = []
            for r in tasks.get(task, []):
                r = replace(r, image=rel(r.image))
                if task == "seg" and imported.mask_lut is not None:
                    from PIL import Image

                    from core.data.manifest import load_mask

                    target = out / "masks" / f"{r.scene}.png"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(imported.mask_lut[load_mask(r.mask)]).save(target)
                    r = replace(r, mask=rel(target))
                elif task == "seg":
                    r = replace(r, mask=rel(r.mask))
                rows.append(r)
            if rows:
                write_jsonl(out / split / f"{task}.jsonl", rows)
                counts[split][task] = len(rows)
    meta = {
        "format_version": FORMAT_VERSION, "generator": "python -m core.data convert", "source": imported.source,
        "source_root": str(imported.root), "classes": imported.classes, "ignore_index": IGNORE_INDEX,
        "splits": sorted(imported.records), "counts": counts,
        "labels": f"imported from {imported.source}: the source dataset's own annotations", "notes": imported.notes,
    }
    (out / "meta.json").write_text(dumps(meta) + "\n", encoding="utf-8")
    return meta
