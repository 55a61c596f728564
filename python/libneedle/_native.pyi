"""Type stubs for the compiled extension ``libneedle._native``."""

import os
from typing import Iterable, Literal, Union, final, overload

from libneedle._errors import NeedleError
from libneedle._types import ConfigDict, StopReason, StreamCallback, ToolCall, Tools

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ENGINE_VERSION",
    "MAX_QUERY_BYTES",
    "MAX_TOOLS_BYTES",
    "RESULT_FIELDS",
    "STOP_REASONS",
    "Engine",
    "RunResult",
    "_panic_for_test",
    "_raise_error",
    "_simulate_spawn_failure",
    "__version__",
    "error_kinds",
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
#: The engine's stop reasons (``needle::StopReason::ALL``), the values of :attr:`RunResult.stop`.
STOP_REASONS: tuple[str, ...]
#: The keys of :meth:`RunResult.to_json`, in order (``needle::RunResult::JSON_FIELDS``);
#: each is also an attribute of :class:`RunResult`.
RESULT_FIELDS: tuple[str, ...]

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
    def prompt_tokens(self) -> int:
        """Number of prompt tokens (v1: the encoder input; v2/v3: the ChatML prompt with BOS)."""
    @property
    def encoder_tokens(self) -> int:
        """The same count as :attr:`prompt_tokens`, under its v1 name."""
    @property
    def stop(self) -> StopReason:
        """Why generation ended (one of :data:`STOP_REASONS`)."""
    @property
    def reasoning(self) -> str | None:
        """The trimmed ``<think>`` block of a v2/v3 answer; ``None`` when there is none (v1: always)."""
    @property
    def confidence(self) -> float | None:
        """The confidence head's probability for this answer (v2/v3 files with the head), else ``None``."""
    @property
    def prompt_truncated(self) -> bool:
        """Whether the prompt was longer than the model reads (v1: cut to ``max_enc_len``;
        v2/v3: over the sequence limit, then nothing is generated and ``stop == "max_seq_len"``)."""
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
    def load(path: _StrPath, vocab: _StrPath | None = None, *, depth: int | None = None) -> Engine:
        """Loads a model file (memory-mapped); the generation is read from the file.

        A v2/v3 ``.cact`` carries its tokenizer: ``vocab`` must be ``None``
        (:class:`~libneedle.InvalidArgumentError` otherwise). A v1 ``needle.safetensors``
        needs its ``vocab.txt``. ``depth`` (v3 only) keeps that many of the file's blocks,
        in upstream's ladder order; with a v1/v2 file it is an ``InvalidArgumentError``.
        """
    @staticmethod
    def demo() -> Engine:
        """The demo model bundled in the package (a small Needle v1 model trained by the
        libneedle project on synthetic tools: a demo of the runtime, not the published Needle)."""
    @staticmethod
    def from_bytes(
        model: bytes | bytearray | memoryview, vocab: str | None = None, *, depth: int | None = None
    ) -> Engine:
        """Loads from memory: the model file's bytes and, for v1, the text of ``vocab.txt``
        (``None`` for a ``.cact``); ``depth`` as in :meth:`load`."""
    @property
    def config(self) -> ConfigDict:
        """The engine's configuration (``needle::Engine::config_json``): ``"generation"``,
        every geometry field of the file, ``"contrastive_dim"``, ``"confidence_head"``."""
    @property
    def generation(self) -> int:
        """The model generation: 1 (``needle.safetensors``), 2 or 3 (``.cact``)."""
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
        strict: bool = False,
        system: str | None = None,
    ) -> RunResult:
        """Answers ``query`` given the tools; ``system`` is a v2/v3 system prompt (v1 ignores it).

        ``strict=True`` turns on strict schema mode: the answer then always parses into
        calls whose names, keys and values match the tools' JSON Schemas.
        """
    def run_stream(
        self,
        query: str,
        tools: Tools,
        callback: StreamCallback,
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        strict: bool = False,
        system: str | None = None,
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
        strict: bool = False,
        threads: int = 0,
        return_exceptions: Literal[False] = False,
        system: str | None = None,
    ) -> list[RunResult]: ...
    @overload
    def run_batch(
        self,
        items: Iterable[tuple[str, Tools]],
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        strict: bool = False,
        threads: int = 0,
        return_exceptions: bool,
        system: str | None = None,
    ) -> list[RunResult | NeedleError | TypeError]:
        """Answers every ``(query, tools)`` item, in order (``threads=0``: all cores).

        With ``return_exceptions=True`` an item that fails, in argument conversion (a
        lone surrogate, unserialisable tools, not a pair: ``TypeError``) or in the
        engine, gets its exception instance in its slot; without it the first error is
        raised. An ``items`` that is not iterable always raises ``TypeError``.
        """
    def confidence(self, query: str, tools: Tools, completion: str, *, system: str | None = None) -> float:
        """The confidence head's probability that ``completion`` answers ``query`` with
        ``tools`` (v2/v3 files with the head; :class:`~libneedle.UnsupportedError` otherwise).
        For the text of a run's answer it equals that run's :attr:`RunResult.confidence`."""
    def encoder_input(self, query: str, tools: Tools) -> list[int]:
        """The encoder input ids for ``query`` and ``tools``."""
    def encode_contrastive(self, text: str) -> list[float]:
        """L2-normalised retrieval embedding (needs a contrastive head)."""
    def retrieve_tools(self, query: str, descriptions: Iterable[str], top_k: int) -> list[tuple[int, float]]:
        """Ranks ``descriptions`` by similarity to ``query``: up to ``top_k`` ``(index, score)``."""

def error_kinds() -> list[tuple[int, str, str]]:
    """The engine's error kinds (``needle::ErrorKind::ALL``): ``(code, exception class name, kind name)``."""

def _raise_error(code: int, message: str) -> None:
    """Raises the exception an engine error of status ``code`` maps to (for tests)."""

def _panic_for_test(released: bool = False) -> None:
    """Panics inside the wrapper every method uses (GIL held, or released): raises
    :class:`~libneedle.InternalError` (for tests)."""

def _simulate_spawn_failure(on: bool) -> None:
    """Makes every thread spawn attempted by the calling OS thread fail (``True``) or work
    again (``False``): for tests of the fallback to the calling thread."""
