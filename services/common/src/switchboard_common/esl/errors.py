"""Errors raised by the Event Socket client; each has a stable error id."""

from __future__ import annotations

from typing import Any

from switchboard_common.errors import ErrorKind, UpstreamError


class EslError(UpstreamError):
    """Base of every Event Socket failure: FreeSWITCH or the link to it misbehaved."""

    error_id = "esl-error"


class EslProtocolError(EslError):
    """The bytes received do not follow the Event Socket wire format."""

    error_id = "esl-protocol-error"


class EslConnectionError(EslError):
    """No usable connection: refused, closed, or lost while a command was pending."""

    kind = ErrorKind.UNAVAILABLE
    error_id = "esl-not-connected"


class EslAuthError(EslError):
    """FreeSWITCH refused the password; `reply_text` is its own words (e.g. `-ERR invalid`)."""

    error_id = "esl-auth-failed"

    def __init__(self, reply_text: str, *, details: dict[str, Any] | None = None) -> None:
        merged = {"reply": reply_text, **(details or {})}
        super().__init__(f"FreeSWITCH refused ESL authentication: {reply_text}", details=merged)
        self.reply_text = reply_text


class EslCommandError(EslError):
    """A command was answered with `-ERR ...`; `reply_text` carries FreeSWITCH's text."""

    error_id = "esl-command-failed"

    def __init__(self, command: str, reply_text: str) -> None:
        super().__init__(
            f"FreeSWITCH rejected {command!r}: {reply_text}",
            details={"command": command, "reply": reply_text},
        )
        self.command = command
        self.reply_text = reply_text


class EslTimeoutError(EslError):
    """No reply (or no BACKGROUND_JOB) arrived in time."""

    kind = ErrorKind.TIMEOUT
    error_id = "esl-timeout"
