"""Cards for identical assessment inputs, re-issued with fresh uuids.

``assess`` is pure: the same FHIR data, assessment date, look-back window and
knowledge base give the same Assessment, hence the same cards. An EHR calls
patient-view every time a chart is opened, mostly with unchanged data, so the
service keeps the answer for recent inputs (keyed by a digest of exactly those
inputs) and answers a repeat without re-reading and re-assessing. Every answer
still gets new card and suggestion uuids, so feedback stays per issued card.

The cache lives in one process and is lost on restart; it holds only what the
cards themselves show, for at most ``max_entries`` inputs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from rccnav.adapters.service.cards import IssuedCard
from rccnav.adapters.service.models import CardsResponse


def input_key(service_id: str, bundle: bytes, on: date, lookback_days: int | None) -> bytes:
    digest = hashlib.blake2b(digest_size=32)
    digest.update(f"{service_id}|{on.isoformat()}|{lookback_days}|".encode())
    digest.update(bundle)
    return digest.digest()


@dataclass(frozen=True)
class Answer:
    """A serialized CDS Hooks response and the uuids in it (card uuids with their type)."""

    body: bytes
    cards: tuple[tuple[str, str], ...]
    suggestions: tuple[str, ...]

    @classmethod
    def of(cls, cards: Sequence[IssuedCard]) -> Answer:
        body = CardsResponse(cards=[c.card for c in cards]).model_dump_json(exclude_none=True)
        return cls(
            body.encode(),
            tuple((c.card.uuid or "", c.card_type) for c in cards),
            tuple(s.uuid for c in cards for s in c.card.suggestions or () if s.uuid),
        )

    def reissued(self) -> Answer:
        """The same answer under new uuids: each old uuid occurs only where it was issued."""
        body = self.body
        cards: list[tuple[str, str]] = []
        for old, card_type in self.cards:
            new = str(uuid.uuid4())
            body = body.replace(old.encode(), new.encode())
            cards.append((new, card_type))
        suggestions: list[str] = []
        for old in self.suggestions:
            new = str(uuid.uuid4())
            body = body.replace(old.encode(), new.encode())
            suggestions.append(new)
        return Answer(body, tuple(cards), tuple(suggestions))


class AnswerCache:
    """A small LRU map from input digest to answer; used from the event loop only."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[bytes, Answer] = OrderedDict()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> Answer | None:
        answer = self._entries.get(key)
        if answer is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return answer.reissued()

    def put(self, key: bytes, answer: Answer) -> None:
        if self._max <= 0:
            return
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
