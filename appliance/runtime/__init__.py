"""Models: the runtimes that load the model store's active versions, and the default models.

The store itself, its layout, cards and atomic switch, is the model store's distribution
(`appliance_modelstore`, docs/model-store.md), which the updater writes through: the appliance only
reads it. `ModelRuntime.get(name)` loads the active version (LiteRT, ONNX Runtime or dlib) once per
process, verified against its card, and follows a switch of the active version between tasks.
`install_default_models` (appliance.runtime.defaults) builds the default set from PyPI packages
into a new store directory. The store's names are re-exported here for the appliance's own use.
"""

from appliance_modelstore import (
    CARD_FILE,
    ModelCard,
    ModelFile,
    ModelStore,
    RuntimeKind,
    Task,
    decode_card,
    encode_card,
)

from appliance.runtime.errors import ModelError, ModelIntegrityError, ModelNotFoundError, RuntimeUnavailableError
from appliance.runtime.loader import LoadedModel, ModelRuntime
from appliance.runtime.tensors import TensorInfo

__all__ = [
    "CARD_FILE",
    "LoadedModel",
    "ModelCard",
    "ModelError",
    "ModelFile",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelRuntime",
    "ModelStore",
    "RuntimeKind",
    "RuntimeUnavailableError",
    "Task",
    "TensorInfo",
    "decode_card",
    "encode_card",
]
