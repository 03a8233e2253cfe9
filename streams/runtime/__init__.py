"""The one consume -> process -> checkpoint lifecycle of every high-volume stream:
``loop.BatchLoop`` reads batches and hands them to a processing step, ``checkpoint.Checkpoint``
alone decides when input offsets are committed (outputs acknowledged, then state durable,
then commit, in batch order) and rewinds after a failure."""
