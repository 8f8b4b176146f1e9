"""Imagery: which bands of a raster are red, green and blue (sensor catalogue and detection, pure Python, no GDAL),
and the model's spectral refiner for the NIR and SWIR bands (``core.imagery.refiner``)."""

from core.imagery.detect import BandChoice, choose_bands, parse_bands
from core.imagery.sensors import SENSORS, Sensor, sensor_named

__all__ = ["SENSORS", "BandChoice", "Sensor", "choose_bands", "parse_bands", "sensor_named"]
