"""Neural model files on disk: the models folder, and pulling models from a Hugging Face compatible hub.

Importing this package does no I/O; :class:`ModelStore` touches the folder when its methods run.
"""

from chorus.models.store import (
    CatalogueEntry,
    HubFile,
    InstalledModel,
    ModelDownloadError,
    ModelError,
    ModelNotInstalled,
    ModelStore,
    UnknownModel,
    catalogue,
    resolve,
)

__all__ = [
    "CatalogueEntry",
    "HubFile",
    "InstalledModel",
    "ModelDownloadError",
    "ModelError",
    "ModelNotInstalled",
    "ModelStore",
    "UnknownModel",
    "catalogue",
    "resolve",
]
