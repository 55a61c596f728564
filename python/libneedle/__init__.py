"""libneedle: a runtime for Needle v1, the 26M-parameter tool-calling model.

    >>> import libneedle
    >>> engine = libneedle.Engine.demo()  # bundled demo model; or Engine.load("needle.safetensors", "vocab.txt")
    >>> r = engine.run("What's the weather in Paris?",
    ...                [{"name": "get_weather", "parameters": {"city": {"type": "string"}}}])
    >>> r.calls
    [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]

``tools`` is either a JSON string (passed to the engine as it is) or the equivalent Python
list/dict (serialised with ``json.dumps(tools, ensure_ascii=False, separators=(",", ":"))``).
Inference releases the GIL, so one :class:`Engine` can serve many threads at once.

Errors: everything libneedle raises is a :class:`NeedleError` subclass (a bug, even a Rust
panic, is :class:`InternalError`), except :class:`TypeError` for arguments of the wrong
type. A lone surrogate in any text argument is :class:`InvalidUtf8Error`. Limits: a query
longer than :data:`MAX_QUERY_BYTES` UTF-8 bytes is :class:`InvalidArgumentError`, tools
JSON longer than :data:`MAX_TOOLS_BYTES` is :class:`InvalidToolsError`; without
``max_new_tokens`` a call generates at most ``min(max_dec_len, DEFAULT_MAX_NEW_TOKENS)``.

Streaming: generation stops only when the callback returns exactly ``False``; any other
value continues; an exception from the callback stops it and is re-raised.

Process exit: a daemon thread still inside a libneedle call when the interpreter finalises
is parked for good (the process is exiting) instead of being ended inside native code,
which would abort the process.
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
from ._native import (
    DEFAULT_MAX_NEW_TOKENS,
    ENGINE_VERSION,
    MAX_QUERY_BYTES,
    MAX_TOOLS_BYTES,
    Engine,
    RunResult,
    __version__,
)
from ._types import ConfigDict, StreamCallback, ToolCall, Tools

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ENGINE_VERSION",
    "MAX_QUERY_BYTES",
    "MAX_TOOLS_BYTES",
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
