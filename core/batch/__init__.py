"""Archive-scale batch runs of segment, caption, ask, ground, classify and change over many rasters, on Ray."""
