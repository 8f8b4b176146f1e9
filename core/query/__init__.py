"""Questions about land cover answered from measurement: parse a question, execute it, check model answers."""
