# The self-test a release on trial must pass before it is confirmed: the terminal is back on
# the fleet server (the runtime only calls this once online with a fresh MAC-checked config),
# its peripherals answer, and every module of the release imports. A release that cannot
# pass it is rolled back by the next boot. Returns (ok, reason).

PERIPHERALS = ("network", "display", "keypad", "journal")
_HARDWARE = ("terminal/drivers/", "terminal/boards/")  # need the board's own modules


def _module_name(path):
    if not (path.endswith(".mpy") or path.endswith(".py")):
        return None
    if not (path.startswith("terminal/") or path.startswith("protocol/")):
        return None
    for prefix in _HARDWARE:
        if path.startswith(prefix):
            return None
    name = path[:path.rfind(".")].replace("/", ".")
    if name.endswith(".__init__"):
        name = name[:-9]
    return name


def run(runtime, manifest_doc=None):
    if not runtime.online:
        return False, "offline"
    try:
        report = runtime.diagnostics()
    except Exception as err:  # a diagnostics crash is a failed test, not a crashed terminal
        return False, "diagnostics " + str(err)[:40]
    for name in PERIPHERALS:
        if not (report.get(name) or {}).get("ok"):
            return False, name
    files = (manifest_doc or {}).get("files") or ()
    for entry in files:
        name = _module_name(entry.get("path") or "")
        if name is None:
            continue
        try:
            __import__(name)
        except Exception as err:  # SyntaxError, ImportError, anything a module raises
            return False, ("import " + name + " " + str(err))[:64]
    return True, None
