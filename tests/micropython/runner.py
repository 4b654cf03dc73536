# Runs portable test modules on the MicroPython binary:
#   micropython -X heapsize=4M tests/micropython/runner.py <repo> <scratch dir> <module>...
# Imports each module (tests/micropython/<module>.py), calls its test_* functions one by one
# and prints "PASS <module>.<function>" or "FAIL <module>.<function> <error>" for each, then
# "SUMMARY <passed> <failed>". A failure does not stop the others. pytest runs the very same
# modules on CPython; tests/integration/test_micropython_portable.py reads these lines.

import sys

ROOT = sys.argv[1]
for _path in (ROOT + "/tests/micropython", ROOT + "/firmware", ROOT):
    sys.path.insert(0, _path)

import io  # noqa: E402

import portable  # noqa: E402

portable.scratch_root = sys.argv[2]
results = [0, 0]


def describe(err):
    # A bare assert has no message on MicroPython: the traceback's last lines say where.
    out = io.StringIO()
    sys.print_exception(err, out)
    lines = [line.strip() for line in out.getvalue().split("\n") if line.strip()]
    return " | ".join(lines[-3:])


def run(module_name):
    try:
        module = __import__(module_name)
    except Exception as err:  # the module's functions cannot run: say so once
        results[1] += 1
        print("FAIL %s.<import> %s" % (module_name, describe(err)))
        return
    names = sorted(name for name in dir(module) if name.startswith("test_"))
    for name in names:
        try:
            getattr(module, name)()
            results[0] += 1
            print("PASS %s.%s" % (module_name, name))
        except Exception as err:  # every function gets its line
            results[1] += 1
            print("FAIL %s.%s %s" % (module_name, name, describe(err)))


for _module in sys.argv[3:]:
    run(_module)
print("SUMMARY %d %d" % (results[0], results[1]))
if results[1]:
    sys.exit(1)
