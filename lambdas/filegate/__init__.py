"""filegate: decides who may upload or download which file, and mints the URLs.

Layers import only downward: ``handlers`` -> ``adapters`` / ``settings`` -> ``domain``.
"""
