"""Hub-UI: server-rendered pages (views), what they show (presenters), forms and URLs.

Views parse, authorize, call one action (``actions/``) and render; presenters read and shape.
"""
