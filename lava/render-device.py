#!/usr/bin/python3
"""Render a device dictionary with lava-server's device-type templates.

    render-device.py TEMPLATES DICT.jinja2 [KEY=VALUE...] > DEVICE.yaml

TEMPLATES is lava-server's device-types directory (Debian's lava-server
package ships it in /usr/share/lava-server/device-types; `apt-get download
lava-server` and `dpkg-deb -x` give it without installing the server).
KEY=VALUE pairs are the job's context (lava-server renders the device with
it at submission): e.g. arch=arm64 machine=virt cpu=cortex-a57 for the qemu
job. Integer values are passed as integers, true/false as booleans.
"""

import os
import sys

import jinja2
import yaml


def value(v):
    if v in ("true", "false"):
        return v == "true"
    try:
        return int(v)
    except ValueError:
        return v


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    templates, dictionary = argv[1], argv[2]
    context = dict(kv.split("=", 1) for kv in argv[3:])
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([os.path.dirname(dictionary) or ".", templates]),
        trim_blocks=True,
        autoescape=False,
    )
    out = env.get_template(os.path.basename(dictionary)).render(
        **{k: value(v) for k, v in context.items()}
    )
    yaml.safe_load(out)  # fails on a broken rendering
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
