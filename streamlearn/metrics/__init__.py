"""Multi-label prequential metrics: cumulative and over a sliding window.

Hamming loss, subset accuracy (exact match), micro/macro F1, example-based F1, micro precision
and recall, over a label space that can grow. See docs/evaluation.md for the definitions and
conventions (they follow River's ``metrics.multioutput``).
"""

from streamlearn.metrics._core import METRICS
from streamlearn.metrics.multilabel import MultiLabelMetrics
from streamlearn.metrics.windowed import WindowedMultiLabelMetrics

__all__ = ["METRICS", "MultiLabelMetrics", "WindowedMultiLabelMetrics"]
