"""The one error of the contract catalog, shared by ``schemas.catalog`` and ``schemas.topics``."""


class CatalogError(Exception):
    """The catalog or one of its schema files is invalid."""
