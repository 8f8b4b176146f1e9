"""Setting up the engine's Python from inside QGIS (dialog, Processing algorithm, first use).

- :mod:`.check`: does an interpreter have what the engine needs (and which device)? a one-tile engine run.
- :mod:`.create`: the commands that create the engine environment (venv + pip), and running them.
- :mod:`.setup`: what the dialog and ``earthask:setup_engine`` share: verify, create, remember; where files go.
- :mod:`.dialog`: the set-up dialog; :mod:`.first_use`: the check when EarthAsk opens.

The interpreter chosen here is the ``python`` setting; :class:`plugin.engine_client.EngineHolder` starts the engine
process with it, on that interpreter's own ``sys.path``.
"""
