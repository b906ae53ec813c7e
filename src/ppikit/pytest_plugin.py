"""pytest plugin (entry point ``ppikit``): fixtures for testing your own firmware logic with ppikit.

Import-light on purpose: loading the plugin imports nothing heavy and starts nothing; fixtures start
swtpm/acpiexec only when a test asks for them, and skip with a clear reason when a tool is missing
(this plugin is the only place in ppikit where a missing tool skips instead of failing).
"""
