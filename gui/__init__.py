"""The labelaudit desktop app: Qt (PySide6) views over the core engine.

Nothing here computes what core can: the run happens in core.pipeline on a
worker thread (gui.worker), filtering and sorting in core.table_filter, the
plots draw what core.calibration and core.audit return. Start it with
:func:`gui.app.run_gui`.
"""
