"""Versioned Avro contracts as code.

* ``schemas/avro/<contract>/v<N>.avsc``  the contracts, one file per version
* :mod:`schemas.catalog`   ``catalog.yaml`` loader: stable schema ids, topic -> subject
* :mod:`schemas.wire`      Confluent wire format codec (magic 0, 4-byte id, Avro binary)
* :mod:`schemas.compat`    compatibility gate + lint (``python -m schemas.compat``)
* :mod:`schemas.examples`  example payloads (valid and invalid) and their loader
* :mod:`schemas.shape`     strict, value-free record shape checks used by the codec
"""
