"""Models: the model store on disk (docs/model-store.md), its cards, and the runtimes that load them.

`ModelStore` reads and writes `<models_root>/<name>/<version>/` and the atomic `active` links;
`ModelRuntime.get(name)` loads the active version (LiteRT, ONNX Runtime or dlib) once per
process, verified against its card, and follows a switch of the active version between tasks.
`install_default_models` (appliance.runtime.defaults) builds the default set from PyPI packages.
"""

from appliance.runtime.cards import CARD_FILE, RUNTIMES, TASKS, ModelCard, ModelFile, decode_card, encode_card
from appliance.runtime.errors import ModelError, ModelIntegrityError, ModelNotFoundError, RuntimeUnavailableError
from appliance.runtime.loader import LoadedModel, ModelRuntime
from appliance.runtime.store import ModelStore
from appliance.runtime.tensors import TensorInfo

__all__ = [
    "CARD_FILE",
    "RUNTIMES",
    "TASKS",
    "LoadedModel",
    "ModelCard",
    "ModelError",
    "ModelFile",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelRuntime",
    "ModelStore",
    "RuntimeUnavailableError",
    "TensorInfo",
    "decode_card",
    "encode_card",
]
