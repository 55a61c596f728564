"""Type stubs for the compiled extension ``libneedle._native``."""

import os
from typing import Literal, Sequence, Union, final, overload

from libneedle._errors import NeedleError
from libneedle._types import ConfigDict, StreamCallback, ToolCall, Tools

__all__ = ["ENGINE_VERSION", "Engine", "RunResult", "_raise_error", "__version__"]

__version__: str
ENGINE_VERSION: str

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
    """A loaded Needle model; thread-safe, inference releases the GIL."""

    @staticmethod
    def load(weights_path: _StrPath, vocab_path: _StrPath) -> Engine:
        """Loads ``needle.safetensors`` (memory-mapped) and ``vocab.txt``."""
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
        """Like :meth:`run`, calling ``callback(token_id, piece)`` per token; ``False`` stops."""
    @overload
    def run_batch(
        self,
        items: Sequence[tuple[str, Tools]],
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        threads: int = 0,
        return_exceptions: Literal[False] = False,
    ) -> list[RunResult]: ...
    @overload
    def run_batch(
        self,
        items: Sequence[tuple[str, Tools]],
        *,
        max_new_tokens: int | None = None,
        constrained: bool = True,
        threads: int = 0,
        return_exceptions: bool,
    ) -> list[RunResult | NeedleError]: ...
    def encoder_input(self, query: str, tools: Tools) -> list[int]:
        """The encoder input ids for ``query`` and ``tools``."""
    def encode_contrastive(self, text: str) -> list[float]:
        """L2-normalised retrieval embedding (needs a contrastive head)."""
    def retrieve_tools(self, query: str, descriptions: Sequence[str], top_k: int) -> list[tuple[int, float]]:
        """Ranks ``descriptions`` by similarity to ``query``: up to ``top_k`` ``(index, score)``."""

def _raise_error(code: int, message: str) -> None:
    """Raises the exception an engine error of status ``code`` maps to (for tests)."""
