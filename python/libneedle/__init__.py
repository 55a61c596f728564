"""libneedle: a runtime for Needle v1, the 26M-parameter tool-calling model.

    >>> import libneedle
    >>> engine = libneedle.Engine.load("needle.safetensors", "vocab.txt")
    >>> r = engine.run("What's the weather in Paris?",
    ...                [{"name": "get_weather", "parameters": {"city": {"type": "string"}}}])
    >>> r.calls
    [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]

``tools`` is either a JSON string (passed to the engine as it is) or the equivalent Python
list/dict (serialised with ``json.dumps(tools, separators=(",", ":"))``). Inference releases
the GIL, so one :class:`Engine` can serve many threads at once.
"""

from __future__ import annotations

from ._errors import (
    CancelledError,
    InternalError,
    InvalidArgumentError,
    InvalidToolsError,
    InvalidUtf8Error,
    InvalidVocabError,
    InvalidWeightsError,
    IoError,
    NeedleError,
    UnsupportedError,
)
from ._native import ENGINE_VERSION, Engine, RunResult, __version__
from ._types import ConfigDict, StreamCallback, ToolCall, Tools

__all__ = [
    "ENGINE_VERSION",
    "CancelledError",
    "ConfigDict",
    "Engine",
    "InternalError",
    "InvalidArgumentError",
    "InvalidToolsError",
    "InvalidUtf8Error",
    "InvalidVocabError",
    "InvalidWeightsError",
    "IoError",
    "NeedleError",
    "RunResult",
    "StreamCallback",
    "ToolCall",
    "Tools",
    "UnsupportedError",
    "__version__",
]
