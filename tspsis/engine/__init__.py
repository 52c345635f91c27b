"""The training layer: start trainings and tests in their own processes (``launch``) and what such a process runs
(``runner``: ``python -m tspsis.engine.runner``, mmengine's Runner over the plugin). docs/DESIGN.md, "Layers"."""
