"""Contracts: multi-label learner, drift detector, events, array inputs."""

from streamlearn.base.arrays import CSR, InputError
from streamlearn.base.drift import DriftDetector
from streamlearn.base.events import DriftEvent
from streamlearn.base.multilabel import MultiLabelClassifier

__all__ = ["CSR", "DriftDetector", "DriftEvent", "InputError", "MultiLabelClassifier"]
