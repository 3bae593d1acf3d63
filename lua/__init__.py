"""The Lua scripts (one ``verb_noun.lua`` per atomic operation, and ``lib/prelude.lua``), shipped as
package data and read by finance/scripts.py through importlib.resources. No Python here."""
