"""PartialCocoMetric: the subset evaluation of tspsis.eval inside mmdet's test loop."""
