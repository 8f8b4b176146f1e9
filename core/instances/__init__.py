"""Grounding from land-cover instances: a phrase naming a class -> that class's objects as polygons, measured."""
