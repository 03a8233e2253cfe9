"""The hub's view of a Kafka broker: protocols (``protocols``), the aiokafka implementation
(``kafka``) and an in-memory broker for unit tests (``memory``). ``tests/streams/runtime/
test_broker_contract.py`` runs one suite against both implementations, so the memory broker
behaves like Kafka for everything the hub relies on."""
