"""Drift detectors equivalent to River's (numba kernels), label-space drift monitors and
synthetic drift streams.

Every detector has River's API (``update(x)``, ``drift_detected``, ``warning_detected``
where River has it) plus ``update_many(values)`` that runs the whole loop in one compiled
call and returns the positions of the detections. See ``docs/drift.md``.
"""

from streamlearn.drift.adwin import ADWIN
from streamlearn.drift.ddm import DDM
from streamlearn.drift.eddm import EDDM
from streamlearn.drift.hddm_a import HDDM_A, HDDMA
from streamlearn.drift.kswin import KSWIN
from streamlearn.drift.page_hinkley import PageHinkley

__all__ = ["ADWIN", "DDM", "EDDM", "HDDMA", "HDDM_A", "KSWIN", "PageHinkley"]
