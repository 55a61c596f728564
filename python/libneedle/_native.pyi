"""Type stubs for the compiled extension ``libneedle._native``."""

import os
from typing import Iterable, Literal, Union, final, overload

from libneedle._errors import NeedleError
from libneedle._types import ConfigDict, StreamCallback, ToolCall, Tools

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ENGINE_VERSION",
    "MAX_QUERY_BYTES",
    "MAX_TOOLS_BYTES",
    "Engine",
    "RunResult",
    "_panic_for_test",
    "_raise_error",
    "_simulate_spawn_failure",
    "__version__",
]

__version__: str
ENGINE_VERSION: str
#: The longest query (and retrieval text) a call accepts, in UTF-8 bytes (64 MiB); longer
#: raises :class:`~libneedle.InvalidArgumentError`.
MAX_QUERY_BYTES: int
#: The longest tools JSON a call accepts, in UTF-8 bytes (16 MiB); longer raises
#: :class:`~libneedle.InvalidToolsError`.
MAX_TOOLS_BYTES: int
#: Tokens generated when ``max_new_tokens`` is not given: ``min(max_dec_len, 512)``.
DEFAULT_MAX_NEW_TOKENS: int

_StrPath = Union[str, "os.PathLike[str]"]

@final
class RunResult:
    """The answer to one query."""

    @property
    def text(self) -> str:
        """The call JSON as generated (``<tool_call>`` removed, names restored)."""
    @property
    def calls(self) -> list[ToolCall] | None:
        """Calls parsed from ``text``; ``None`` when ``text`` is not a list of calls."""
    @property
    def token_ids(self) -> list[int]:
        """Generated token ids (leading ``<tool_call>`` included, EOS excluded)."""
    @property
    def encoder_tokens(self) -> int:
        """Number of encoder input tokens."""
    @property
    def stop(self) -> Literal["eos", "max_tokens", "callback"]:
        """Why generation ended."""
    def to_json(self) -> str:
        """The structured result as compact JSON, exactly as the Rust engine writes it."""

@final
class Engine:
    """A loaded Needle model; thread-safe, inference releases the GIL.

    Every error is a :class:`~libneedle.NeedleError` subclass (a Rust panic is
    :class:`~libneedle.InternalError`); wrong Python types raise :class:`TypeError`. Text
    arguments containing a lone surrogate raise :class:`~libneedle.InvalidUtf8Error`.
    ``max_new_tokens=None`` generates up to ``min(max_dec_len, DEFAULT_MAX_NEW_TOKENS)``
    tokens. A daemon thread still inside a call when the interpreter finalises is parked
    (blocked for good) instead of being ended inside native code.
    """

    @staticmethod
    def load(weights_path: _StrPath, vocab_path: _StrPath) -> Engine:
        """Loads ``needle.safetensors`` (memory-mapped) and ``vocab.txt``."""
    @staticmethod
    def demo() -> Engine:
        """The demo model bundled in the package (a small Needle v1 model trained by the
        libneedle project on synthetic tools: a demo of the runtime, not the published Needle)."""
    @staticmethod
    def from_bytes(weights: bytes | bytearray | memoryview, vocab_text: str) -> Engine:
        """Loads from memory: the weights file's bytes and the text of ``vocab.txt``."""
    @property
    def config(self) -> ConfigDict:
        """Geometry read from the weights' metadata."""
    @property
    def contrastive_dim(self) -> int:
        """Width of the contrastive head (0 when the model has none)."""
    def run(
        self,
        query: str,
        tools: Tools,
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
    ) -> RunResult:
        """Answers ``query`` given the tools."""
    def run_stream(
        self,
        query: str,
        tools: Tools,
        callback: StreamCallback,
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
    ) -> RunResult:
        """Like :meth:`run`, calling ``callback(token_id, piece)`` for each generated token.

        Generation stops after a token only when the callback returns exactly ``False``
        (``result.stop == "callback"``); any other return value (``None``, ``0``, ``""``,
        ...) continues. An exception raised by the callback stops generation and is
        re-raised to the caller.
        """
    @overload
    def run_batch(
        self,
        items: Iterable[tuple[str, Tools]],
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        threads: int = 0,
        return_exceptions: Literal[False] = False,
    ) -> list[RunResult]: ...
    @overload
    def run_batch(
        self,
        items: Iterable[tuple[str, Tools]],
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        threads: int = 0,
        return_exceptions: bool,
    ) -> list[RunResult | NeedleError | TypeError]:
        """Answers every ``(query, tools)`` item, in order (``threads=0``: all cores).

        With ``return_exceptions=True`` an item that fails, in argument conversion (a
        lone surrogate, unserialisable tools, not a pair: ``TypeError``) or in the
        engine, gets its exception instance in its slot; without it the first error is
        raised. An ``items`` that is not iterable always raises ``TypeError``.
        """
    def encoder_input(self, query: str, tools: Tools) -> list[int]:
        """The encoder input ids for ``query`` and ``tools``."""
    def encode_contrastive(self, text: str) -> list[float]:
        """L2-normalised retrieval embedding (needs a contrastive head)."""
    def retrieve_tools(self, query: str, descriptions: Iterable[str], top_k: int) -> list[tuple[int, float]]:
        """Ranks ``descriptions`` by similarity to ``query``: up to ``top_k`` ``(index, score)``."""

def _raise_error(code: int, message: str) -> None:
    """Raises the exception an engine error of status ``code`` maps to (for tests)."""

def _panic_for_test(released: bool = False) -> None:
    """Panics inside the wrapper every method uses (GIL held, or released): raises
    :class:`~libneedle.InternalError` (for tests)."""

def _simulate_spawn_failure(on: bool) -> None:
    """Makes every thread spawn attempted by the calling OS thread fail (``True``) or work
    again (``False``): for tests of the fallback to the calling thread."""
