"""pure core: no I/O.

Modules under ``streams.core`` take plain data (dicts, strings, epoch milliseconds) and return
plain data: no Kafka, no files, no clock, no network. The edges read files and clocks and pass
the results in, so every decision here is reproducible and testable without a broker.
"""
