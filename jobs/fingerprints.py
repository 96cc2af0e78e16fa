"""Failure fingerprints: which failed jobs failed "the same way".

Two failures are the same when their exception class is the same and their messages are the same
once the parts that differ from one occurrence to the next are masked: quoted values, UUIDs, hex
ids and numbers ("Invoice 4711 not found" and "Invoice 4712 not found" are one failure). The key
of a group is a short hash of the class and the masked message, stored on the job when it
becomes Failed (jobs/states.apply_state, the owner of every transition), so the console groups
failed jobs with an indexed GROUP BY (job_failure_group_idx) instead of reading messages.
"""

import hashlib
import re

# Only the start of a message decides its group: a long message (a response body) differs in
# its tail, and hashing megabytes per failure would be waste.
MESSAGE_PREFIX = 500
KEY_LENGTH = 24  # hex characters: 96 bits, no collision among any plausible number of groups

# In this order: a quoted value may hold numbers and ids; a UUID holds hex runs and digits.
_MASKS = (
    (re.compile(r"'[^'\n]*'"), "'…'"),
    (re.compile(r'"[^"\n]*"'), '"…"'),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    # A run of 6+ hex characters with at least one digit: commit ids, object ids, tokens.
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b"), "<hex>"),
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*"), "<n>"),
)
_SPACES = re.compile(r"\s+")


def masked(message: str) -> str:
    """The message with its varying parts masked, and its white space collapsed."""
    text = _SPACES.sub(" ", (message or "")[:MESSAGE_PREFIX]).strip()
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def group_key(exception_class: str, message: str) -> str:
    """The failure group of an exception: a hash of its class and masked message."""
    text = f"{exception_class}\n{masked(message)}"
    return hashlib.blake2b(text.encode(), digest_size=KEY_LENGTH // 2).hexdigest()


def is_group_key(value: str) -> bool:
    """Whether `value` has the shape of a group key (URLs carry them)."""
    return len(value) == KEY_LENGTH and all(c in "0123456789abcdef" for c in value)
