"""labelaudit's engine: load data, score it, audit labels and calibration, review, export.

Importable with no Qt and no display. Heavy libraries (torch, transformers,
cleanlab, scikit-learn) are imported lazily where they are used.
"""

__version__ = "0.1.0"
