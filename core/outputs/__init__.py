"""Where results are written: checked against the inputs first, written atomically, cleaned up on every failure."""

from core.outputs.atomic import atomic_file, copy_raster, replace_or_clean
from core.outputs.check import FORMATS, check_output, input_files

__all__ = ["FORMATS", "atomic_file", "copy_raster", "check_output", "input_files", "replace_or_clean"]
