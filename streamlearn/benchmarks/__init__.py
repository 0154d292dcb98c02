"""Benchmarks and reports: tooling, apart from the runtime packages.

Nothing at run time (the learners, the service, ``streamlearn evaluate``) imports this package;
it imports them. One module per benchmark, the commands in :mod:`.commands`:

- :mod:`.bench`: ``streamlearn bench``, several learners side by side on one stream;
- :mod:`.report`: ``streamlearn bench-report``, docs/benchmarks.md (every learner on the
  benchmark data sets, the acceptance bars, iHOMER's ablation), beside the published results
  of the MLHAT study, which are package data (``published_mlhat.csv``);
- :mod:`.drift`: ``streamlearn bench-drift``, the drift detectors against River;
- :mod:`.active`: ``streamlearn bench-active`` and ``accept-active``, the active-learning
  strategies at several budgets.
"""
