"""The expert's pages: one blueprint, with the round's pages and "my data" in their own modules."""

from app.expert import look, my_data
from app.expert import round as round_pages
from app.expert.routes import bp

__all__ = ["bp", "look", "my_data", "round_pages"]
