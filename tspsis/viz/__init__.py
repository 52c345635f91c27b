"""The viz layer: what the notebooks show (docs/DESIGN.md, "Layers").

``tables`` (markdown tables beside the paper's numbers), ``plots`` (Figs. 2, 3, 8, the coverage study, histograms,
training curves),
``examples`` (predicted masks on validation images, Figs. 1, 5, 6, 7), ``panels`` (inside the teacher-student head),
``overlay`` (``tspsis predict``'s images), ``output`` (``NotebookOutput``) and ``palette`` (the one palette). The
modules draw; a trained model is reached through ``tspsis.apis``. This package re-exports the names the notebooks
use: ``opmask_cams`` (Fig. 5's maps) from ``tspsis.apis``, the seed statistics ``Stat`` / ``over_seeds`` /
``format_stat`` of :mod:`tspsis.core.stats`.
"""
from tspsis.apis import opmask_cams
from tspsis.core.stats import Stat, format_stat, over_seeds
from tspsis.viz.examples import (detections_by_image, draw_cams, draw_image_grid, draw_object_grid, match_detection,
                                 object_ious, pick_objects)
from tspsis.viz.output import NotebookOutput
from tspsis.viz.panels import TEACHER_STUDENT_COLUMNS, draw_teacher_student, teacher_student_panels
from tspsis.viz.plots import (plot_ap_by_overlap, plot_coverage, plot_curves, plot_fp_attribution,
                              plot_overlap_histogram, plot_seen_splits, plot_training_curves, save_figure)
from tspsis.viz.tables import (DIRECTION_TITLES, MISSING, comparison_table, coverage_summary, coverage_table,
                               dataset_table, detector_table, fmt, fp_table, given_boxes_table, iou_table,
                               markdown_table,
                               overlap_bins_table, split_table, teacher_ratio_line)

__all__ = ["DIRECTION_TITLES", "MISSING", "NotebookOutput", "Stat", "TEACHER_STUDENT_COLUMNS", "comparison_table",
           "coverage_summary", "coverage_table", "dataset_table", "detections_by_image", "detector_table", "draw_cams",
           "draw_image_grid", "draw_object_grid", "draw_teacher_student", "fmt", "format_stat", "fp_table",
           "given_boxes_table", "iou_table", "markdown_table", "match_detection", "object_ious", "opmask_cams",
           "over_seeds", "overlap_bins_table", "pick_objects", "plot_ap_by_overlap", "plot_coverage", "plot_curves",
           "plot_fp_attribution", "plot_overlap_histogram", "plot_seen_splits", "plot_training_curves", "save_figure",
           "split_table", "teacher_ratio_line", "teacher_student_panels"]
