"""The auditor's view of a timeline at `/audit/{workflow_id}`: the entries filtered by actor, channel and act
(`?actor=&channel=&act=`), one page at a time (`?offset=&limit=`).

The filters offer only the values the timeline holds, so a choice never comes back empty for a reason the
page hides. The whole timeline is decoded, then filtered and cut here: a 4,000-event cycle is one fetch of
its history, and the page renders at most `MAX_LIMIT` entries of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from awardcycle.acts import ACTS
from awardcycle.timeline import Timeline, TimelineEntry
from notifications.render import CHANNELS_ZH
from schemas.common import Actor

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
NO_ACTOR = "-"  # the filter's value for entries no person caused: timers, mail, stage changes
_NUMBER = re.compile(r"[0-9]{1,9}")
FILTERS = ("actor", "channel", "act")


@dataclass(frozen=True)
class TimelineRequest:
    actor: str
    channel: str
    act: str
    offset: int
    limit: int

    @property
    def filtered(self) -> bool:
        return bool(self.actor or self.channel or self.act)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    count: int  # entries with this value in the whole timeline


@dataclass(frozen=True)
class TimelinePage:
    timeline: Timeline
    wanted: TimelineRequest
    entries: list[TimelineEntry]  # this page's
    matched: int  # entries passing the filters, over every page
    actors: list[Choice]
    channels: list[Choice]
    acts: list[Choice]
    shown_from: int
    shown_to: int
    previous_href: str | None
    next_href: str | None
    clear_href: str


def timeline_request(
    *, actor: str | None, channel: str | None, act: str | None, offset: str | None, limit: str | None
) -> TimelineRequest:
    """The filters and page asked for; a ValueError with the reason (Chinese and English) otherwise."""
    numbers = []
    for name, text, default in (("offset", offset, 0), ("limit", limit, DEFAULT_LIMIT)):
        value = (text or "").strip()
        if value and not _NUMBER.fullmatch(value):
            raise ValueError(f"{name} 须为非负整数，而不是“{value[:20]}” ({name} must be a whole number)")
        numbers.append(int(value) if value else default)
    start, size = numbers
    if not 1 <= size <= MAX_LIMIT:
        raise ValueError(f"每页条数须为 1–{MAX_LIMIT} (limit must be 1 to {MAX_LIMIT}), 而不是 {size}")
    chosen = [(value or "").strip()[:300] for value in (actor, channel, act)]
    return TimelineRequest(chosen[0], chosen[1], chosen[2], offset=start, limit=size)


def actor_key(actor: Actor | None) -> str:
    """`role:identity`: one person in one role, whichever channel they acted through."""
    return NO_ACTOR if actor is None else f"{actor.role.value}:{actor.identity}"


def _matches(entry: TimelineEntry, wanted: TimelineRequest) -> bool:
    if wanted.actor and actor_key(entry.actor) != wanted.actor:
        return False
    if wanted.channel and (entry.actor.channel.value if entry.actor else NO_ACTOR) != wanted.channel:
        return False
    return not wanted.act or entry.act == wanted.act


def _choices(counts: dict[str, int], label: dict[str, str]) -> list[Choice]:
    return [Choice(value, label.get(value, value), count) for value, count in sorted(counts.items())]


def timeline_page(timeline: Timeline, wanted: TimelineRequest) -> TimelinePage:
    actors: dict[str, int] = {}
    channels: dict[str, int] = {}
    acts: dict[str, int] = {}
    for entry in timeline.entries:
        actors[actor_key(entry.actor)] = actors.get(actor_key(entry.actor), 0) + 1
        channel = entry.actor.channel.value if entry.actor else NO_ACTOR
        channels[channel] = channels.get(channel, 0) + 1
        if entry.act:
            acts[entry.act] = acts.get(entry.act, 0) + 1
    matched = [entry for entry in timeline.entries if _matches(entry, wanted)]
    page = matched[wanted.offset : wanted.offset + wanted.limit]
    following = wanted.offset + wanted.limit
    no_one = {NO_ACTOR: "（无操作人：系统事件）"}
    return TimelinePage(
        timeline=timeline,
        wanted=wanted,
        entries=page,
        matched=len(matched),
        actors=_choices(actors, no_one),
        channels=_choices(channels, {**{k: f"{v}（{k}）" for k, v in CHANNELS_ZH.items()}, **no_one}),
        acts=_choices(acts, {name: f"{act.summary}（{name}）" for name, act in ACTS.items()}),
        shown_from=min(wanted.offset + 1, len(matched)),
        shown_to=min(following, len(matched)),
        previous_href=_href(timeline.workflow_id, wanted, max(wanted.offset - wanted.limit, 0))
        if wanted.offset
        else None,
        next_href=_href(timeline.workflow_id, wanted, following) if following < len(matched) else None,
        clear_href=audit_href(timeline.workflow_id),
    )


def audit_href(workflow_id: str, **filters: str) -> str:
    """The timeline's page, filtered (`actor=`, `channel=`, `act=`) if asked."""
    query = urlencode({name: value for name, value in filters.items() if value})
    return f"/audit/{quote(workflow_id)}" + (f"?{query}" if query else "")


def _href(workflow_id: str, wanted: TimelineRequest, offset: int) -> str:
    kept = {name: getattr(wanted, name) for name in FILTERS}
    if offset:
        kept["offset"] = str(offset)
    if wanted.limit != DEFAULT_LIMIT:
        kept["limit"] = str(wanted.limit)
    return audit_href(workflow_id, **kept)
