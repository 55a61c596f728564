"""libneedle: a runtime for Cactus Compute's Needle tool-calling models, every generation.

    >>> import libneedle
    >>> engine = libneedle.Engine.demo()  # bundled demo model (v1)
    >>> r = engine.run("What's the weather in Paris?",
    ...                [{"name": "get_weather", "parameters": {"city": {"type": "string"}}}])
    >>> r.calls
    [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]

Loading: ``Engine.load("needle3.cact")`` (v2/v3: the file carries its tokenizer; the
generation is read from the file, ``depth=`` keeps fewer v3 blocks) or
``Engine.load("needle.safetensors", "vocab.txt")`` (v1). ``engine.generation`` is 1, 2 or 3;
``engine.config`` is the engine's configuration JSON as a dict. Results carry ``reasoning``
(the ``<think>`` block of a v2/v3 answer) and ``confidence`` (the confidence head's
probability, where the file has the head); ``system=`` gives a v2/v3 call a system prompt.

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
    RESULT_FIELDS,
    STOP_REASONS,
    Engine,
    RunResult,
    __version__,
)
from ._types import ConfigDict, StopReason, StreamCallback, ToolCall, Tools

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ENGINE_VERSION",
    "MAX_QUERY_BYTES",
    "MAX_TOOLS_BYTES",
    "RESULT_FIELDS",
    "STOP_REASONS",
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
    "StopReason",
    "StreamCallback",
    "ToolCall",
    "Tools",
    "UnsupportedError",
    "__version__",
]
