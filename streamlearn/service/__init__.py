"""The service core: everything the service does between its inputs and its outputs, without
Kafka and without HTTP.

- :mod:`~streamlearn.service.contract` — every record on the wire, one typed model each;
- :mod:`~streamlearn.service.encoding` — an event's features as a row of the shard's space;
- :mod:`~streamlearn.service.shard` — the per-shard step (decode, predict, learn, emit);
- :mod:`~streamlearn.service.join` — late labels: events waiting for labels, and the reverse;
- :mod:`~streamlearn.service.state` — the shard state a snapshot holds, and its cadence;
- :mod:`~streamlearn.service.monitors` — the label-space drift monitors of a shard;
- :mod:`~streamlearn.service.published` — the model versions the HTTP readers answer from;
- :mod:`~streamlearn.service.loop` — restore, process, emit, publish, checkpoint: the one loop,
  over the ``Source``, ``Sink`` and ``SnapshotStore`` protocols of a transport;
- :mod:`~streamlearn.service.recorder` — what the core reports (metrics), as an interface;
- :mod:`~streamlearn.service.learners` — which learner a shard runs;
- :mod:`~streamlearn.service.faults` — test-only pause points of a checkpoint.

It imports numpy, pydantic and the library only; transports (``consumers/``: Kafka, the embedded
replay) and the HTTP layer (:mod:`streamlearn.serving`) sit on top of it.
"""
