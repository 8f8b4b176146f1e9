"""Where the panel writes what it makes (land-cover GeoTIFFs, found objects): one folder, never the temp folder.

The folder is, in order:

1. the one the user chose: QgsSettings key ``earthask/output_dir`` (:data:`OUTPUT_DIR_KEY`);
2. beside the saved project: ``<project folder>/earthask_outputs``, so the project keeps its layers;
3. without a saved project: ``<QGIS profile folder>/earthask/outputs`` (``QgsApplication.qgisSettingsDirPath()``,
   e.g. ``~/.local/share/QGIS/QGIS3/profiles/default/earthask/outputs`` on Linux).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from typing import Optional

from qgis.core import QgsApplication, QgsProject, QgsSettings

from core.errors import InputError

OUTPUT_DIR_KEY = "earthask/output_dir"
PROJECT_FOLDER = "earthask_outputs"


def chosen_output_dir() -> str:
    """The folder set in the settings (``earthask/output_dir``), or "" when none is set."""
    value = QgsSettings().value(OUTPUT_DIR_KEY, "")
    return os.path.expanduser(str(value or "").strip())


def set_output_dir(folder: str) -> None:
    """Choose the output folder ("" goes back to the default)."""
    QgsSettings().setValue(OUTPUT_DIR_KEY, folder.strip())


def data_output_dir() -> str:
    """The documented data folder used while the project is not saved: ``<profile>/earthask/outputs``."""
    return os.path.join(QgsApplication.qgisSettingsDirPath(), "earthask", "outputs")


def default_output_dir(project: Optional[QgsProject] = None) -> str:
    """Beside the saved project (``<project folder>/earthask_outputs``), else :func:`data_output_dir`."""
    home = (project or QgsProject.instance()).absolutePath()
    return os.path.join(home, PROJECT_FOLDER) if home else data_output_dir()


def output_dir(project: Optional[QgsProject] = None) -> str:
    """The folder outputs go to now, made when missing.

    Raises:
        InputError: the chosen folder cannot be made. (A default beside a read-only project falls back to the
            data folder.)
    """
    chosen = chosen_output_dir()
    candidates = [chosen] if chosen else [default_output_dir(project), data_output_dir()]
    error: Exception = OSError("no folder")
    for folder in dict.fromkeys(candidates):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            error = exc
            continue
        if os.access(folder, os.W_OK):
            return os.path.abspath(folder)
        error = PermissionError(f"{folder} is not writable")
    raise InputError(f"Cannot write to the EarthAsk output folder {candidates[0]} ({error}); choose another one "
                     "in the EarthAsk settings.")


def output_path(stem: str, suffix: str, folder: Optional[str] = None) -> str:
    """A new file name in ``folder`` (default :func:`output_dir`): ``<stem>_<date-time>_<6 hex><suffix>``."""
    safe = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "earthask"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(folder or output_dir(), f"{safe[:60]}_{stamp}_{uuid.uuid4().hex[:6]}{suffix}")


def suggested_path(name: str) -> str:
    """``name`` in the output folder, to start a save dialog there (just ``name`` when the folder is unusable)."""
    try:
        return os.path.join(output_dir(), name)
    except InputError:
        return name
