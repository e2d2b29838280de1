"""Password policy for people (tenant users). SIP passwords follow a simpler rule."""

from __future__ import annotations

import string

from switchboard_common.errors import ValidationFailed

MIN_LENGTH = 10
PASSPHRASE_LENGTH = 16
MAX_LENGTH = 256
MIN_SIP_LENGTH = 8
MAX_SIP_LENGTH = 128

_COMMON = frozenset(
    {
        "password",
        "passw0rd",
        "qwerty",
        "azerty",
        "letmein",
        "welcome",
        "iloveyou",
        "admin",
        "changeme",
        "123456",
        "switchboard",
        "dragon",
        "monkey",
        "sunshine",
        "football",
    }
)


def password_problems(password: str, *, username: str = "") -> list[str]:
    """What is wrong with `password` (empty when it is acceptable)."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"shorter than {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"longer than {MAX_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if len(password) < PASSPHRASE_LENGTH and classes < 3:
        problems.append(
            "mix three of: lower case, upper case, digits, symbols "
            f"(or use a passphrase of {PASSPHRASE_LENGTH}+ characters)"
        )
    lowered = password.lower()
    if username and len(username) >= 3 and username.lower() in lowered:
        problems.append("contains the username")
    stripped = lowered.strip(string.digits + string.punctuation)
    if lowered in _COMMON or stripped in _COMMON:
        problems.append("a commonly used password")
    if password and len(set(password)) <= 2:
        problems.append("repeats one or two characters")
    return problems


def check_password(password: str, *, username: str = "", field: str = "password") -> None:
    """422 `weak-password` naming the field and every problem found."""
    problems = password_problems(password, username=username)
    if problems:
        raise ValidationFailed(
            "the password is too weak: " + "; ".join(problems),
            field=field,
            error_id="weak-password",
            details={"problems": problems},
        )


def check_sip_password(password: str, *, field: str = "sip_password") -> None:
    """SIP digest passwords: 8-128 printable characters without spaces or quotes."""
    if (
        not MIN_SIP_LENGTH <= len(password) <= MAX_SIP_LENGTH
        or not password.isprintable()
        or any(c in password for c in " \"'<>&")
        or len(set(password)) <= 2
    ):
        raise ValidationFailed(
            f"a SIP password has {MIN_SIP_LENGTH}-{MAX_SIP_LENGTH} printable characters, "
            "no spaces, quotes or <>&",
            field=field,
            error_id="weak-password",
        )
