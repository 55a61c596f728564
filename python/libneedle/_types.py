"""Typing helpers shared by the stubs and user code."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Sequence, TypedDict, Union


class ToolCall(TypedDict):
    """One parsed tool call: ``{"name": str, "arguments": dict}``."""

    name: str
    arguments: Dict[str, Any]


#: Tools: a JSON string, or a list of tool dicts, or one tool dict.
Tools = Union[str, Sequence[Mapping[str, Any]], Mapping[str, Any]]

#: A streaming callback: ``(token_id, piece) -> object``. Generation stops only when it
#: returns exactly ``False``; any other value (``None``, ``0``, ``""``, ...) continues.
StreamCallback = Callable[[int, str], object]

#: Model geometry returned by :attr:`Engine.config`.
ConfigDict = Dict[str, Union[int, float, bool, str]]

__all__ = ["ConfigDict", "StreamCallback", "ToolCall", "Tools"]
