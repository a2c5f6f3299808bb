"""The facilitators' pages: one blueprint (app.facilitator.routes) that other modules join."""

# the look and mail pages join the blueprint when the package is imported (the module imports
# app.facilitator.routes, which finishes before the join)
from app.facilitator import routes_look as routes_look
