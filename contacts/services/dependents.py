"""What other apps keep of a list, tag or segment by id, so the contacts app can warn and
follow along without importing them.

A scheduled SMS campaign keeps the id of its audience and reads it when it starts: deleting
the list, tag or segment meanwhile makes it fail to start. Apps register, from their
``AppConfig.ready``, a finder that names what would break (the delete pages show it) and,
for tags, a follower that points their references at the tag another was merged into
(like ``contacts.segments.references.follow_tag_merge`` does for segments)::

    from contacts.services.dependents import register_finder

    @register_finder
    def scheduled_campaigns(kind: str, pk: int) -> list[Dependent]: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from contacts.models import Segment
from dashboard.actors import Actor

Kind = Literal["list", "tag", "segment"]


@dataclass(frozen=True)
class Dependent:
    """One thing that uses a list, tag or segment: a label and its page."""

    label: str
    url: str


Finder = Callable[[str, int], list[Dependent]]
TagMergeFollower = Callable[..., int]
_finders: list[Finder] = []
_tag_merge_followers: list[TagMergeFollower] = []


def register_finder(finder: Finder) -> Finder:
    """Add a function naming what uses a list, tag or segment (idempotent)."""
    if finder not in _finders:
        _finders.append(finder)
    return finder


def register_tag_merge_follower(follower: TagMergeFollower) -> TagMergeFollower:
    """Add ``follower(*, actor, source, target)``, run in the merge's transaction (idempotent)."""
    if follower not in _tag_merge_followers:
        _tag_merge_followers.append(follower)
    return follower


def dependents(kind: Kind, pk: int) -> list[Dependent]:
    """Everything other apps hold that would break if this list, tag or segment went."""
    return [found for finder in _finders for found in finder(kind, pk)]


def dependents_with_segments(
    kind: Kind | Literal["field"], pk: int, segments: Iterable[Segment]
) -> list[Dependent]:
    """What uses a list or tag, directly or through ``segments`` (those whose rules name it:
    deleting it makes their rules invalid, so what uses them breaks too). A custom field is
    used only through segments."""
    found = [] if kind == "field" else dependents(kind, pk)
    for segment in segments:
        found += [d for d in dependents("segment", segment.pk) if d not in found]
    return found


def follow_tag_merge(*, actor: Actor, source, target) -> int:
    return sum(
        follower(actor=actor, source=source, target=target) for follower in _tag_merge_followers
    )
