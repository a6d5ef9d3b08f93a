"""Blueprints: thin views that parse a form, call a service and render or redirect.

``portal.views.blueprints`` registers them all on the app.
"""
