"""Multi-label streams: MEKA ARFF files and seeded synthetic streams with planted drift.

- :class:`Dataset`: a whole stream in memory (features dense or CSR, labels ``uint8``).
- :func:`load_arff` / :func:`iter_arff` / :func:`read_arff_header`: the MEKA ARFF reader.
- :func:`make_stream` / :func:`iter_events`: synthetic streams with planted label groups and
  drift at known points (:class:`Drift`, :class:`SyntheticStream`).
"""

from streamlearn.stream.arff import ArffError, ArffHeader, iter_arff, load_arff, read_arff_header
from streamlearn.stream.dataset import Dataset
from streamlearn.stream.synth import Drift, SyntheticStream, iter_events, make_stream

__all__ = [
    "ArffError",
    "ArffHeader",
    "Dataset",
    "Drift",
    "SyntheticStream",
    "iter_arff",
    "iter_events",
    "load_arff",
    "make_stream",
    "read_arff_header",
]
