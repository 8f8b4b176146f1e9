"""Learn from the analyst's labels: rasterise polygons, split them spatially, score a model, fine-tune it."""
