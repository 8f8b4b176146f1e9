"""EarthAsk's Processing provider and algorithms (batch mode, the modeler and qgis_process)."""
