"""The model store (docs/model-store.md): its layout, its model cards and its atomic switch.

Two programs meet at the model store and nowhere else: the appliance reads it (`appliance.runtime`)
and the offline updater (`appliance_updater`) writes it. This small distribution is that meeting
place: both import it, and it imports nothing of either.

- `layout`: the names of the store's entries and the rules of model names and versions;
- `cards`: the model card (`ModelCard`, its `Task` and `RuntimeKind`), read and written;
- `files`: sha256 of a file, durable atomic writes, fsync of a directory;
- `store`: `ModelStore`, a store's models, versions, cards and active versions, its active bundle,
  and the writes that build a store directory (`install`, `activate`);
- `switch`: the atomic switch of a model's `active` link, which every writer goes through.
"""

from appliance_modelstore.cards import ModelCard, ModelFile, RuntimeKind, Task, decode_card, encode_card
from appliance_modelstore.errors import ModelError, ModelIntegrityError, ModelNotFoundError
from appliance_modelstore.layout import CARD_FILE, version_key
from appliance_modelstore.store import ModelStore

__all__ = [
    "CARD_FILE",
    "ModelCard",
    "ModelError",
    "ModelFile",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelStore",
    "RuntimeKind",
    "Task",
    "decode_card",
    "encode_card",
    "version_key",
]
