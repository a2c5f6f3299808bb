"""The expert's pages: one blueprint, with the round's pages in their own module."""

from app.expert import round as round_pages
from app.expert.routes import bp

__all__ = ["bp", "round_pages"]
