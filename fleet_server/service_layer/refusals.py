"""A refusal the services give a front end: a stable code and the details its wording needs.
The services speak no user's language; each front end says it its own way (the console in
French: entrypoints/web/refusals.py)."""


class Refused(Exception):
    def __init__(self, code: str, **details):
        super().__init__(code)
        self.code, self.details = code, details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.details!r})"
