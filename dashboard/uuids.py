"""Time-ordered UUIDs (version 7, RFC 9562) for primary keys that are inserted in bulk.

Python 3.14 has ``uuid.uuid7``; 3.11 does not, hence this generator.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """48-bit Unix time in milliseconds, then 74 random bits (and the version and variant).

    Ids made later sort later, so a table's primary key and every index on a column holding
    these ids grow at their right edge instead of touching random pages all over the B-tree;
    for a large insert that is most of the cost. Ids made in the same millisecond are in
    random order among themselves, which is harmless.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)
