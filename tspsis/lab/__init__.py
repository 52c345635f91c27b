"""The lab layer: the paper's experiments as cached training runs, for the notebooks (docs/DESIGN.md, "Layers").

A notebook asks for a (method, direction) pair and gets a finished :class:`tspsis.engine.work_dir.Run`::

    from tspsis import lab
    ctx = lab.Context.create("03_main_results", "demo")
    run = ctx.run("Mask R-CNN + ours", "voc2nonvoc")
    run.metrics["segm"]["unseen"]["AP"]

Modules: ``profiles`` (one :class:`Profile` per profile: data, track, sizing, schedule, seeds, device),
``registry`` (the paper's rows: ``METHODS``), ``data`` (data and splits of a profile), ``digest`` (the code digest
of a run's key), ``runs`` (resolve, key, cache, train), ``records`` (a work dir's experiment.json + metrics.json,
read once), ``context`` (the notebooks' ``Context``), ``coverage`` (the coverage study's plan), ``notebooks``
(``tspsis run-notebooks``) and ``claims`` (the paper's claims, measured). This package re-exports the names the
notebooks use.
"""
from tspsis.core.paper import DIRECTIONS
from tspsis.lab.context import Context
from tspsis.lab.coverage import CoveragePlan, coverage_plan, split_coverage
from tspsis.lab.data import SEEN_OF, prepare_data, prepare_splits
from tspsis.lab.digest import code_digest
from tspsis.lab.profiles import (PROFILES, TRACKS, DataSource, Profile, Schedule, data_profile, default_data_root,
                                 default_work_dir, estimate_seconds, get_profile, method_seeds, require_device,
                                 seen_specs, split_specs)
from tspsis.lab.registry import (METHODS, PRETRAINING, ConfigSpec, Method, available, config, config_path,
                                 unavailable_reason)
from tspsis.lab.runs import Experiment, pretraining, print_plan, resolve, run, training_seconds

__all__ = ["DIRECTIONS", "METHODS", "PRETRAINING", "PROFILES", "SEEN_OF", "TRACKS", "ConfigSpec", "Context",
           "CoveragePlan", "DataSource", "Experiment", "Method", "Profile", "Schedule", "available", "code_digest",
           "config", "config_path", "coverage_plan", "data_profile", "default_data_root", "default_work_dir",
           "estimate_seconds", "get_profile", "method_seeds", "prepare_data", "prepare_splits", "pretraining",
           "print_plan", "require_device", "resolve", "run", "seen_specs", "split_coverage", "split_specs",
           "training_seconds", "unavailable_reason"]
