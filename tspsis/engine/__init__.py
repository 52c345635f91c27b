"""The training layer (docs/DESIGN.md, "Layers"): a run's config composed from its files (``config``), the run
request that is resolved, checked and recorded once (``request``), trainings and tests started in their own
processes (``launch``, with ``progress`` on the console), and what such a process runs (``runner``:
``python -m tspsis.engine.runner``, mmengine's Runner over the plugin; ``resume``, ``distributed``), the files of a
run's work dir named in ``work_dir``."""
