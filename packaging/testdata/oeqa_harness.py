# Runs meta-mypoll's oeqa runtime test module outside oe-core, with
# stand-ins for the three oeqa names it imports, behaving as oe-core
# wrynose's do: OEHasPackage skips unless one of the names is in
# tc.image_packages (the image manifest's package names), OETestDepends
# runs a test after those it depends on and skips it unless they passed
# (oeqa's loader and OETestDepends). The target answers like a board with the module loaded.
# Usage: oeqa_harness.py MODULE_FILE PKG... ; prints one line per test:
# "<test> pass|skip|fail <details>" and the commands the target ran.
import importlib.util
import sys
import types
import unittest

layer_file, pkgs = sys.argv[1], set(sys.argv[2:])


def has_package(names):
    def deco(fn):
        def wrapper(self, *a, **k):
            if not set(names) & self.tc.image_packages:
                raise unittest.SkipTest('Test requires %s to be installed' % ' or '.join(names))
            return fn(self, *a, **k)
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


passed = set()


def depends(names):
    def deco(fn):
        def wrapper(self, *a, **k):
            for n in names:
                # a test of another module (ssh) counts as passed
                if n.startswith('mypoll.') and n.split('.')[-1] not in passed:
                    raise unittest.SkipTest('%s did not pass' % n)
            return fn(self, *a, **k)
        wrapper.__name__ = fn.__name__
        wrapper.depends = [n.split('.')[-1] for n in names] + getattr(fn, 'depends', [])
        return wrapper
    return deco


class Target:
    def __init__(self):
        self.ran = []

    def run(self, cmd):
        self.ran.append(cmd)
        answers = {
            'lsmod': 'Module Size Used by\nmypoll 32768 1',
            'pidof mypolld': '123',
            'stat -c %U /proc/$(pidof mypolld)': 'mypoll',
            'stat -L -c "%a %G" /dev/mypoll': '660 mypoll',
            'mypollctl stats': 'clients 1',
        }
        if cmd.startswith('mypollctl echo '):
            return 0, 'OK echo ' + cmd.split(' ', 2)[2]
        return 0, answers.get(cmd, '')


class Case(unittest.TestCase):
    tc = None
    target = None


for name, attrs in {
    'oeqa': {}, 'oeqa.runtime': {}, 'oeqa.core': {}, 'oeqa.core.decorator': {},
    'oeqa.runtime.decorator': {},
    'oeqa.runtime.case': {'OERuntimeTestCase': Case},
    'oeqa.core.decorator.depends': {'OETestDepends': depends},
    'oeqa.runtime.decorator.package': {'OEHasPackage': has_package},
}.items():
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m

spec = importlib.util.spec_from_file_location('mypoll', layer_file)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
Case.tc = types.SimpleNamespace(image_packages=pkgs)
Case.target = Target()

result = unittest.TestResult()
names = unittest.TestLoader().getTestCaseNames(mod.MypollTest)
order = []
while len(order) < len(names):
    before = len(order)
    for n in names:
        deps = getattr(getattr(mod.MypollTest, n), 'depends', [])
        if n not in order and all(d in order or d not in names for d in deps):
            order.append(n)
    if len(order) == before:
        sys.exit('dependency cycle among %s' % names)
for n in order:
    failed = len(result.failures) + len(result.errors) + len(result.skipped)
    mod.MypollTest(n).run(result)
    if len(result.failures) + len(result.errors) + len(result.skipped) == failed:
        passed.add(n)
status = {}
for t, why in result.skipped:
    status[t._testMethodName] = 'skip ' + why
for t, tb in result.failures + result.errors:
    status[t._testMethodName] = 'fail ' + tb.strip().splitlines()[-1]
for n in order:
    print(n, status.get(n, 'pass'))
for c in Case.target.ran:
    print('ran', c)
