"""Minimal stand-in for `clii` (CLI framework) so opvault-demo's main.py and
createconfig.py import without it. Decorators return the function unchanged;
no CLI is ever run by the vector generator."""


class App:
    def __init__(self, *args, **kwargs):
        pass

    def main(self, fn):
        return fn

    def cmd(self, fn):
        return fn

    def run(self, *args, **kwargs):
        raise NotImplementedError("clii shim: CLI not available")
