"""Azure adapters behind small ports, each with a local stand-in (see docs/adapters.md).

Activities use :func:`podium.adapters.factory.build_adapters` and the Protocols in
:mod:`podium.adapters.ports`; nothing else in the app imports an Azure SDK directly.
"""
