"""`python -m private_host bundle`: the stack outputs in, the private host's bundle folder out.

    pulumi stack output --json --show-secrets | python -m private_host bundle --out ./private-site
    python -m private_host bundle --stack-outputs outputs.json --out ./private-site [--force]

Exit status: 0 written; 2 missing or invalid stack outputs or options, or an output folder that
cannot be used (the message names the key or the option); 1 the folder could not be written.
Nothing secret is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from private_host import bundle as bundle_module
from private_host.bundle import DEFAULT_MODEL_HOST, DEFAULT_NAMESPACE, DEFAULT_SITE_NAME, PLATFORMS, RESOURCES_DIR
from private_host.files import OutDirError, prepare_dir, write_file
from private_host.outputs import OutputError, parse_stack_outputs

EXIT_INPUT = 2
EXIT_WRITE = 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m private_host", description="The private model host's side of the Skupper link."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    b = commands.add_parser(
        "bundle",
        help="build the folder to install on the private model host",
        description="Turns `pulumi stack output --json --show-secrets` into a folder for the host that runs "
        "the private model server: a Skupper system site (Site, Connector, static Link and its "
        "Secret), install.sh and README.txt.",
    )
    b.add_argument(
        "--stack-outputs",
        metavar="FILE",
        default="-",
        help="the JSON of `pulumi stack output --json --show-secrets`, or - for standard input (default)",
    )
    b.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        type=Path,
        help="the folder to write (created 0700; keep it private: it holds the link's key)",
    )
    b.add_argument(
        "--force", action="store_true", help="overwrite a non-empty folder that holds a bundle this command wrote"
    )
    b.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"the Skupper namespace of the site on the host (default: {DEFAULT_NAMESPACE})",
    )
    b.add_argument(
        "--site-name",
        default=DEFAULT_SITE_NAME,
        help=f"the name of the host's Skupper site (default: {DEFAULT_SITE_NAME})",
    )
    b.add_argument(
        "--model-host",
        default=DEFAULT_MODEL_HOST,
        help="where the host's router reaches the model server (default: 127.0.0.1; the router "
        "of a podman/docker system site shares the host's network)",
    )
    b.add_argument(
        "--model-port",
        type=int,
        default=None,
        help="the model server's port on the host (default: the cluster Listener's port)",
    )
    b.add_argument(
        "--platform",
        choices=PLATFORMS,
        default="podman",
        help="the Skupper system-site platform on the host (default: podman)",
    )
    b.add_argument(
        "--edge",
        action="store_true",
        help="make the host an edge site (dials the Link's 'edge' endpoint instead of 'inter-router')",
    )
    return root


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin
    try:
        text = _read_outputs(args.stack_outputs, stdin)
        outputs = parse_stack_outputs(text)
        options = bundle_module.Options(
            namespace=args.namespace,
            site_name=args.site_name,
            model_host=args.model_host,
            model_port=args.model_port,
            platform=args.platform,
            edge=args.edge,
        )
        bundle = bundle_module.build(outputs, options)
    except (OutputError, bundle_module.OptionError) as error:
        return _fail(str(error), EXIT_INPUT)
    except OSError as error:
        return _fail(f"cannot read the stack outputs: {_os_error(error)}", EXIT_INPUT)
    except UnicodeDecodeError:
        return _fail("the stack outputs are not UTF-8 text", EXIT_INPUT)
    try:
        prepare_dir(args.out, force=args.force, subdirs=(RESOURCES_DIR,))
    except OutDirError as error:
        return _fail(str(error), EXIT_INPUT)
    except OSError as error:
        return _fail(f"cannot create the bundle folder: {_os_error(error)}", EXIT_WRITE)
    try:
        for file in bundle.files:
            write_file(args.out, file)
    except OSError as error:
        return _fail(f"cannot write the bundle: {_os_error(error)}", EXIT_WRITE)
    _summary(args.out, bundle)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"private_host bundle: {message}", file=sys.stderr)
    return status


def _read_outputs(source: str, stdin: TextIO) -> str:
    if source == "-":
        if stdin.isatty():
            raise OutputError(
                "no stack outputs: pipe in `pulumi stack output --json --show-secrets`, or pass --stack-outputs FILE"
            )
        return stdin.read()
    path = Path(source)
    if not path.is_file():
        raise OutputError(f"--stack-outputs {source}: no such file")
    return path.read_text(encoding="utf-8")


def _os_error(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error.__class__.__name__}"


def _summary(out: Path, bundle: bundle_module.Bundle) -> None:
    spec = bundle.connector["spec"]
    print(f"Wrote the private model site bundle to {out} (0700; keep it private: it holds the link's key).")
    for file in bundle.files:
        if not file.path.startswith("."):
            print(f"  {file.path}  ({oct(file.mode)[2:]})")
    print(
        f"Site {bundle.site['metadata']['name']!r} in namespace {bundle.options.namespace!r} on "
        f"{bundle.options.platform}; Connector routing key {spec['routingKey']!r} -> {spec['host']}:{spec['port']}; "
        f"Link {bundle.link['metadata']['name']!r} -> {bundle.endpoint['host']}:{bundle.endpoint['port']} "
        f"({bundle.role})."
    )
    print(
        "Next: copy the folder to the model host over ssh (scp -r), run `bash install.sh` there, and read "
        "README.txt for the checks and how to revoke."
    )
