"""Online clustering of the label space (for iHOMER).

- :class:`JaccardODAC`: online divisive-agglomerative clustering of the labels (ODAC with
  Jaccard or correlation dissimilarity), see :mod:`streamlearn.cluster.odac`.
- :func:`random_partition`: a random partition of the labels (baseline / ablation).
"""

from streamlearn.cluster.odac import JaccardODAC, random_partition

__all__ = ["JaccardODAC", "random_partition"]
