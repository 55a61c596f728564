"""The exception hierarchy: one class per engine status (``needle::ErrorKind``).

Every error raised by libneedle is an instance of :class:`NeedleError`; the subclass says
which kind of failure it is and ``str(exc)`` / ``exc.message`` is the engine's message.
``code`` is the stable numeric status shared with the C API (``needle_status``).
"""

from __future__ import annotations


class NeedleError(Exception):
    """Base class of every libneedle error."""

    code: int = 0
    kind: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(NeedleError, ValueError):
    """An argument is invalid (negative count, id out of range, ...)."""

    code = 1
    kind = "invalid argument"


class IoError(NeedleError, OSError):
    """A file cannot be opened or read (missing file, permissions)."""

    code = 2
    kind = "I/O error"


class InvalidWeightsError(NeedleError):
    """The weights file is malformed or inconsistent (header, tensors, shapes, metadata)."""

    code = 3
    kind = "invalid weights file"


class InvalidVocabError(NeedleError):
    """The vocabulary is malformed or does not fit the weights."""

    code = 4
    kind = "invalid vocabulary"


class InvalidToolsError(NeedleError, ValueError):
    """The tools JSON is invalid (bad JSON, a tool without a name, a wrong-typed field)."""

    code = 5
    kind = "invalid tools JSON"


class InvalidUtf8Error(NeedleError, ValueError):
    """A string is not valid UTF-8 (e.g. contains a lone surrogate)."""

    code = 6
    kind = "invalid UTF-8"


class UnsupportedError(NeedleError):
    """The model lacks a part the call needs (e.g. the contrastive head)."""

    code = 7
    kind = "unsupported by this model"


class CancelledError(NeedleError):
    """The call was cancelled."""

    code = 8
    kind = "cancelled"


class InternalError(NeedleError):
    """An internal invariant failed (a bug in libneedle)."""

    code = 9
    kind = "internal error"


ERRORS_BY_CODE: dict[int, type[NeedleError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        IoError,
        InvalidWeightsError,
        InvalidVocabError,
        InvalidToolsError,
        InvalidUtf8Error,
        UnsupportedError,
        CancelledError,
        InternalError,
    )
}
