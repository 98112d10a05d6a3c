"""Podium Studio: the web UI (static HTML/CSS/JS in ``static/``) served by the Functions app.

``podium.studio.blueprint.bp`` holds the anonymous HTTP functions (``/api/studio``,
``/api/studio/{*path}``, ``/api/metrics``); ``podium.studio.assets`` is the framework-free
file serving they use. See ``docs/studio.md``.
"""
