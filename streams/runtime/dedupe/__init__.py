"""Exact duplicate detection by ``event_id`` for the validation stream, behind one interface,
:class:`~streams.runtime.dedupe.state.Dedupe`: ``seen_before``, ``hold`` (ids of a batch in flight count
as seen), ``persist`` (the consume loop's state step: remember -> durable future) and
``replay`` on assignment.

Modules: ``window`` (the decision), ``store`` (local RocksDB), ``log`` (the durable copy in
Kafka, replayed when a partition moves), ``flush`` (group commit of the log), ``state`` (the
interface the worker uses)."""

from streams.runtime.dedupe.state import Dedupe, Held

__all__ = ["Dedupe", "Held"]
