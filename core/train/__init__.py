"""Training: ``python -m core.train`` runs the stages seg, retriever, align and instruct (see __main__.py).

Importing this package is light; torch is imported by the modules that train.
"""
