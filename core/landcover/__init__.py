"""The land-cover map as things people ask about: class words, parts of an area, objects and distances."""
