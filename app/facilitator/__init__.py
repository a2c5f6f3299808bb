"""The facilitators' blueprint (`routes.bp`); the modules below add their routes to it."""

from app.facilitator import routes_builder as _routes_builder  # noqa: F401 - the study builder
