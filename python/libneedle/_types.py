"""Typing helpers shared by the stubs and user code."""

from __future__ import annotations

from typing import Any, Callable, Dict, Literal, Mapping, Sequence, TypedDict, Union


class ToolCall(TypedDict):
    """One parsed tool call: ``{"name": str, "arguments": dict}``."""

    name: str
    arguments: Dict[str, Any]


#: Tools: a JSON string, or a list of tool dicts, or one tool dict.
Tools = Union[str, Sequence[Mapping[str, Any]], Mapping[str, Any]]

#: A streaming callback: ``(token_id, piece) -> object``. Generation stops only when it
#: returns exactly ``False``; any other value (``None``, ``0``, ``""``, ...) continues.
StreamCallback = Callable[[int, str], object]

#: The engine's configuration returned by :attr:`Engine.config` (``needle::Engine::config_json``):
#: ``"generation"``, every geometry field of the file (lists for v2/v3 layer sets),
#: ``"contrastive_dim"`` and ``"confidence_head"``.
#: Values are JSON values (``Any``: numbers, booleans, strings, lists of layer indices).
ConfigDict = Dict[str, Any]

#: Why generation ended (``needle::StopReason``; the engine's list is :data:`libneedle.STOP_REASONS`).
StopReason = Literal["eos", "max_tokens", "callback", "im_end", "max_seq_len"]

__all__ = ["ConfigDict", "StopReason", "StreamCallback", "ToolCall", "Tools"]
