#!/usr/bin/python3
"""Check LAVA files with LAVA's own schemas (Debian's lava-common).

    validate.py job FILE...       job definitions (strict, as lava-server
                                  checks a submission)
    validate.py testdef FILE...   Lava-Test Test Definition 1.0 files
    validate.py device FILE...    rendered device configurations (lava-run)
    validate.py inline JOB TESTDEF
                                  the job's inline test definitions equal
                                  the TESTDEF file

Prints "ok FILE" or "invalid FILE: REASON" per file; exits 1 when any file
is invalid, 2 on a usage error. Run with the system Python (/usr/bin/python3),
which has lava-common.
"""

import sys

import yaml
from lava_common.schemas import device as device_schema
from lava_common.schemas import validate as validate_job
from lava_common.schemas.test.testdef import validate as validate_testdef
from voluptuous import Invalid

CHECKS = {
    "job": lambda data: validate_job(data, strict=True),
    "testdef": validate_testdef,
    "device": device_schema.validate,
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def inline(job_path, testdef_path):
    want = load(testdef_path)
    found = 0
    for action in load(job_path)["actions"]:
        for definition in action.get("test", {}).get("definitions", []):
            if definition.get("from") != "inline":
                continue
            found += 1
            if definition["repository"] != want:
                return "inline definition %r differs from %s" % (
                    definition["name"],
                    testdef_path,
                )
    if found == 0:
        return "no inline test definition"
    return None


def main(argv):
    if len(argv) < 3 or (argv[1] not in CHECKS and argv[1] != "inline"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "inline":
        if len(argv) != 4:
            print(__doc__, file=sys.stderr)
            return 2
        err = inline(argv[2], argv[3])
        if err:
            print("invalid %s: %s" % (argv[2], err))
            return 1
        print("ok %s" % argv[2])
        return 0
    bad = 0
    for path in argv[2:]:
        try:
            CHECKS[argv[1]](load(path))
        except (Invalid, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            print("invalid %s: %s" % (path, exc))
            bad += 1
            continue
        print("ok %s" % path)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
