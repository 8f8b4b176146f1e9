"""Training/evaluation samples from a manifest: segmentation crops, image-caption pairs, task samples.

One sample format feeds the language stages and the evaluator, so training and evaluation see the same
inputs: ``{"image": [3, S, S] float 0..1, "task", "query", "choices", "answer", "answer_value",
"objects_text", "retrieved", "id", "scene", "image_path"}``. ``objects_text`` is
``core.stats.describe_stats`` of a land-cover mask (the ground-truth mask in training, the model's own
prediction in evaluation unless asked otherwise); ``retrieved`` comes from :mod:`core.train.retrieval`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

LANGUAGE_TASKS = ("vqa", "ground", "caption", "classify")


def resize(image: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """``[3, H, W]`` -> ``[3, size, size]`` float (bilinear, antialiased); the aspect ratio is not kept,
    matching the 0-999 box convention, which normalises x and y separately."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp(0, 1)


# ---------------------------------------------------------------- segmentation


def crop_pair(image: torch.Tensor, mask: torch.Tensor, size: int, rng: Optional[random.Random],
              ignore_index: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size`` square crop of image ``[3, H, W]`` and mask ``[H, W]``; random with ``rng``, else centred.

    Images smaller than ``size`` are padded (image 0, mask ``ignore_index``).
    """
    _, h, w = image.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), value=0.0)
        mask = F.pad(mask, (0, pw, 0, ph), value=ignore_index)
        h, w = h + ph, w + pw
    top = rng.randint(0, h - size) if rng else (h - size) // 2
    left = rng.randint(0, w - size) if rng else (w - size) // 2
    return image[:, top:top + size, left:left + size], mask[top:top + size, left:left + size]


def augment_pair(image: torch.Tensor, mask: torch.Tensor, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal/vertical flips and 90-degree rotation (same for image and mask)."""
    if rng.random() < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    if rng.random() < 0.5:
        image, mask = image.flip(-2), mask.flip(-2)
    k = rng.randrange(4)
    if k:
        image, mask = torch.rot90(image, k, (-2, -1)), torch.rot90(mask, k, (-2, -1))
    return image.contiguous(), mask.contiguous()


class SegDataset(Dataset):
    """Manifest ``seg`` records -> ``{"image": [3, s, s], "mask": [s, s] int64}``.

    Training (``train=True``): random crop + flips/rotations from a per-item RNG seeded by ``torch``'s
    global RNG (so a resumed run continues the stream). Validation: a centre crop.
    """

    def __init__(self, manifest: Any, records: Sequence[Any], crop_size: int, train: bool,
                 augment: bool = True, ignore_index: int = 255) -> None:
        self.manifest, self.records = manifest, list(records)
        self.crop_size, self.train, self.augment, self.ignore_index = crop_size, train, augment, ignore_index

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        image = torch.from_numpy(self.manifest.load_image(rec.image))  # [3, H, W]
        mask = torch.from_numpy(self.manifest.load_mask(rec.mask).astype(np.int64))  # [H, W]
        if image.shape[-2:] != mask.shape:
            raise ValueError(f"{rec.image}: image {tuple(image.shape[-2:])} and mask {tuple(mask.shape)} differ")
        rng = random.Random(int(torch.randint(0, 2**31 - 1, ()).item())) if self.train else None
        if self.crop_size:
            image, mask = crop_pair(image, mask, self.crop_size, rng, self.ignore_index)
        if rng is not None and self.augment:
            image, mask = augment_pair(image, mask, rng)
        return {"image": image, "mask": mask}


def collate_seg(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    return {"image": torch.stack([it["image"] for it in items]), "mask": torch.stack([it["mask"] for it in items])}


# ---------------------------------------------------------------- image-caption pairs (retriever)


def all_captions(record: Any) -> list[str]:
    """Every reference sentence of a caption record, scene level first."""
    levels = sorted(record.captions, key=lambda lv: (lv != "scene", lv))
    return [c for lv in levels for c in record.captions[lv] if c.strip()]


class CaptionPairs(Dataset):
    """Caption records -> ``{"image": [3, S, S], "text": one random description of any level}``."""

    def __init__(self, manifest: Any, records: Sequence[Any], size: int, train: bool) -> None:
        self.manifest, self.size, self.train = manifest, size, train
        self.records = [r for r in records if all_captions(r)]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        texts = all_captions(rec)
        j = int(torch.randint(0, len(texts), ()).item()) if self.train else 0
        return {"image": resize(self.manifest.load_image(rec.image), self.size), "text": texts[j],
                "scene": rec.scene}


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a batch, dropping a pair whose text repeats an earlier one (InfoNCE would count it negative)."""
    seen: set[str] = set()
    keep = []
    for it in items:
        if it["text"] not in seen:
            seen.add(it["text"])
            keep.append(it)
    return {"image": torch.stack([it["image"] for it in keep]), "texts": [it["text"] for it in keep]}


# ---------------------------------------------------------------- land-cover text


class ObjectsText:
    """``describe_stats`` text of a mask, cached per image; GeoTIFF images give real areas, others
    count pixels as 1 m2 (``core.stats`` without a CRS)."""

    def __init__(self, manifest: Any, classes: Sequence[str]) -> None:
        self.manifest, self.classes = manifest, list(classes)
        self._cache: dict[str, str] = {}
        self._geo: dict[str, tuple[tuple[float, ...], Optional[str]]] = {}

    def geo(self, image_rel: str) -> tuple[tuple[float, ...], Optional[str]]:
        """(transform, crs or None) of a record's image."""
        if image_rel not in self._geo:
            path = self.manifest.path(image_rel)
            transform, crs = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0), None
            if path.suffix.lower() in (".tif", ".tiff"):
                from core.data.files import read_geo

                crs_text, transform = read_geo(path)
                crs = crs_text or None
            self._geo[image_rel] = (transform, crs)
        return self._geo[image_rel]

    def of_mask(self, image_rel: str, mask: np.ndarray) -> str:
        """Text for ``mask`` [H, W] (class indices, 255 ignore) of the image ``image_rel``."""
        from core.stats import compute_stats, describe_stats

        transform, crs = self.geo(image_rel)
        return describe_stats(compute_stats(mask, self.classes, transform, crs, nodata=255))

    def ground_truth(self, image_rel: str, mask_rel: Optional[str]) -> str:
        """Text of the data's own mask for the image (cached); "" when it has none."""
        if mask_rel is None:
            return ""
        if image_rel not in self._cache:
            self._cache[image_rel] = self.of_mask(image_rel, self.manifest.load_mask(mask_rel))
        return self._cache[image_rel]


def masks_by_image(manifest: Any, splits: Sequence[str]) -> dict[str, str]:
    """image path -> mask path, from the ``seg`` records of ``splits``."""
    out: dict[str, str] = {}
    for split in splits:
        for rec in manifest.records("seg", split):
            out.setdefault(rec.image, rec.mask)
    return out


# ---------------------------------------------------------------- language task samples


def scene_choices(manifest: Any) -> list[str]:
    """The scene categories offered in classification prompts: ``meta["scene_labels"]``, else every label
    the classify records use (sorted)."""
    labels = manifest.meta.get("scene_labels")
    if labels:
        return list(labels)
    found = {lab for split in manifest.splits for r in manifest.records("classify", split)
             for lab in [r.label, *r.labels]}
    return sorted(found)


def sample_fields(task: str, rec: Any, rng: Optional[random.Random],
                  classify_choices: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Task, query, choices, answer target text and numeric value of one record.

    The caption target is a random scene-level sentence (the first without ``rng``); its references for
    evaluation are all scene-level sentences (every level when there are none). Classification offers
    ``classify_choices`` (default: the record's own labels) and targets the record's main ``label``.
    """
    from models.prompts import build_answer

    if task == "vqa":
        return {"task": task, "query": rec.question, "choices": rec.choices, "qtype": rec.type,
                "answer": build_answer("vqa", rec.answer), "answer_value": rec.answer_value,
                "references": [rec.answer]}
    if task == "ground":
        return {"task": task, "query": rec.expression, "choices": None, "qtype": rec.label,
                "answer": build_answer("ground", rec.boxes_999), "answer_value": None,
                "references": [build_answer("ground", rec.boxes_999)], "boxes_999": rec.boxes_999}
    if task == "caption":
        refs = list(rec.captions.get("scene") or all_captions(rec))
        target = refs[rng.randrange(len(refs))] if rng else refs[0]
        return {"task": task, "query": "", "choices": None, "qtype": "caption",
                "answer": build_answer("caption", target), "answer_value": None, "references": refs}
    if task == "classify":
        return {"task": task, "query": "", "choices": list(classify_choices or rec.labels), "qtype": "classify",
                "answer": build_answer("classify", rec.label), "answer_value": None,
                "references": [rec.label]}
    raise ValueError(f"unknown task {task!r}: expected one of {LANGUAGE_TASKS}")


class TaskSamples(Dataset):
    """(task, record) pairs -> language samples (see the module docstring).

    Args:
        objects: the land-cover text source; ``objects_mode`` "gt" uses the data's masks, "none" gives "".
        retrieved: image path -> retrieved descriptions (a function), or None for none.
        weights: per-task sampling weights; the dataset then holds ``round(w_t / sum(w) * N)`` items of
            task ``t`` (cycling through its records), N = the number of records of the weighted tasks.
    """

    def __init__(self, manifest: Any, items: Sequence[tuple[str, Any]], size: int, train: bool,
                 objects: Optional[ObjectsText] = None, masks: Optional[dict[str, str]] = None,
                 retrieved: Optional[Callable[[str], list[str]]] = None,
                 weights: Optional[dict[str, float]] = None) -> None:
        self.manifest, self.size, self.train = manifest, size, train
        self.objects, self.masks, self.retrieved = objects, masks or {}, retrieved
        self.choices = scene_choices(manifest) if any(t == "classify" for t, _ in items) else None
        self.items = list(items)
        if weights:
            self.items = mix_tasks(self.items, weights)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        task, rec = self.items[i]
        rng = random.Random(int(torch.randint(0, 2**31 - 1, ()).item())) if self.train else None
        sample = sample_fields(task, rec, rng, self.choices)
        sample.update(
            id=rec.id, scene=rec.scene, image_path=rec.image,
            image=resize(self.manifest.load_image(rec.image), self.size),
            objects_text=self.objects.ground_truth(rec.image, self.masks.get(rec.image)) if self.objects else "",
            retrieved=self.retrieved(rec.image) if self.retrieved else [],
        )
        return sample


def mix_tasks(items: Sequence[tuple[str, Any]], weights: dict[str, float]) -> list[tuple[str, Any]]:
    """Resample ``items`` so task ``t`` makes up ``w_t / sum(w)`` of them (tasks without records dropped)."""
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for item in items:
        by_task.setdefault(item[0], []).append(item)
    present = {t: w for t, w in weights.items() if w > 0 and by_task.get(t)}
    if not present:
        return list(items)
    total_w, n = sum(present.values()), sum(len(by_task[t]) for t in present)
    out: list[tuple[str, Any]] = []
    for t in sorted(present):
        count = max(1, round(present[t] / total_w * n))
        out += [by_task[t][k % len(by_task[t])] for k in range(count)]
    return out


def parse_weights(text: str) -> dict[str, float]:
    """``"vqa=4,ground=1"`` -> ``{"vqa": 4.0, "ground": 1.0}``; unknown tasks are an error."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        task, _, value = part.partition("=")
        if task not in LANGUAGE_TASKS:
            raise ValueError(f"task_weights: unknown task {task!r}; use {LANGUAGE_TASKS}")
        out[task] = float(value)
    return out
