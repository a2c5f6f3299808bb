"""The items a round asks, loaded once per process for the expert's pages.

Every page of the round reads all of its items (the overview, the jump list, the states, the
pages' order), and loading 35 items with their versions, categories, questions and scales
into the ORM cost more than the rest of a page. The layout changes only when the round's list
of items or their versions change, so it is loaded once, in a session of its own, and kept
detached and read-only. A round's items are chosen while it is a draft, so an open or closed
round's layout is named by its id and opening time; a draft's by a one-line query of (item,
version, position) rows, which notices a reworded or added item.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Item, Question, Round, RoundItem, RoundState
from app.services.round_progress import AskedQuestion, asked_questions


class RoundLayouts:
    """Detached, fully loaded round items per round and item list (least recently used go
    beyond `limit`). One instance per application, shared by its threads; the objects it
    hands out must only be read."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._layouts: OrderedDict[Hashable, list[RoundItem]] = OrderedDict()
        #: per layout (by its list's identity) and round number, what `item_progress` counts
        self._asked: dict[tuple[int, int], tuple[list[RoundItem], list[AskedQuestion]]] = {}
        self._lock = threading.Lock()

    def items_of(self, session: Session, round_: Round) -> list[RoundItem]:
        """The round's items, with everything the expert's pages read already loaded."""
        key: Hashable
        if round_.opened_at is not None and round_.state != RoundState.DRAFT:
            # a round's items are chosen while it is a draft and never change once it opens:
            # its id and opening time name its layout, and every page spares the query
            key = (round_.id, "opened", round_.opened_at)
        else:
            signature = tuple(
                session.execute(
                    select(RoundItem.item_id, RoundItem.item_version_id, RoundItem.position)
                    .where(RoundItem.round_id == round_.id)
                    .order_by(RoundItem.position)
                ).tuples()
            )
            key = (round_.id, signature)
        with self._lock:
            found = self._layouts.get(key)
            if found is not None:
                self._layouts.move_to_end(key)
                return found
        items = _load(session, round_)
        with self._lock:
            self._layouts[key] = items
            while len(self._layouts) > self.limit:
                self._layouts.popitem(last=False)
        return items

    def asked(self, round_items: list[RoundItem], number: int) -> list[AskedQuestion]:
        """`asked_questions` of a layout this cache handed out, worked out once per layout:
        every autosave's progress counts read it, and listing 48 items' questions anew cost
        a tenth of the save."""
        key = (id(round_items), number)
        with self._lock:
            found = self._asked.get(key)
        # the list is kept with its answer, so its id cannot be reused by another list
        if found is not None and found[0] is round_items:
            return found[1]
        asked = asked_questions(round_items, number)
        with self._lock:
            if len(self._asked) >= 4 * self.limit:
                self._asked.clear()
            self._asked[key] = (round_items, asked)
        return asked

    def install(self, session: Session, round_: Round) -> None:
        """Make `round_.items` the cached layout for this request (read-only use only)."""
        set_committed_value(round_, "items", self.items_of(session, round_))


def _load(session: Session, round_: Round) -> list[RoundItem]:
    """Load the round's items in a session of their own, which closes at once: the objects
    leave it loaded and detached, so no request's session (or thread) ever owns them."""
    with Session(bind=session.get_bind(), expire_on_commit=False) as own:
        items = list(
            own.scalars(
                select(RoundItem)
                .where(RoundItem.round_id == round_.id)
                .order_by(RoundItem.position)
                .options(
                    joinedload(RoundItem.item).joinedload(Item.category),
                    joinedload(RoundItem.version),
                    joinedload(RoundItem.item)
                    .selectinload(Item.questions)
                    .joinedload(Question.scale),
                )
            ).unique()
        )
        for round_item in items:  # a question knows its item without asking the database
            for question in round_item.item.questions:
                set_committed_value(question, "item", round_item.item)
        # detach before the session ends: ending its transaction would expire them
        own.expunge_all()
    return items
