"""The README's plain-nginx configuration (its section "Behind plain nginx") is one nginx
takes: the block is put inside an `http { }` of a configuration of its own and checked with
`nginx -t`. Every upstream server in it keeps `max_fails=0`, the point of the section.

    check_readme_nginx.py [README.md]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

SECTION = "### Behind plain nginx"


def block(readme: str) -> str:
    start = readme.find(SECTION)
    if start < 0:
        sys.exit(f"README.md has no section {SECTION!r}")
    match = re.search(r"^```nginx\n(.*?)^```$", readme[start:], re.S | re.M)
    if not match:
        sys.exit(f"README.md's {SECTION!r} has no ```nginx block")
    return match.group(1)


def main(argv: list[str]) -> int:
    readme = Path(argv[1] if len(argv) > 1 else "README.md").read_text()
    config = block(readme)
    upstreams = "".join(re.findall(r"^\s*upstream\s+\S+\s*\{(.*?)\}", config, re.S | re.M))
    servers = re.findall(r"^\s*server\s+([^\s;]+)([^;]*);", upstreams, re.M)
    if not servers:
        sys.exit("the block names no upstream server")
    lacking = [address for address, options in servers if "max_fails=0" not in options]
    if lacking:
        sys.exit(f"upstream servers without max_fails=0: {lacking}")
    with tempfile.TemporaryDirectory() as tmp:
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temp_paths = "".join(f"    {kind}_temp_path {tmp}/{kind};\n" for kind in kinds)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
            f"http {{\n    access_log off;\n{temp_paths}{config}}}\n"
        )
        test = subprocess.run(
            ["nginx", "-t", "-q", "-p", tmp, "-e", f"{tmp}/error.log", "-c", str(conf)],
            capture_output=True,
            text=True,
        )
        if test.returncode != 0:
            sys.exit(f"nginx -t refuses the README's block:\n{test.stderr}")
    print(f"nginx -t takes the README's block ({len(servers)} upstream servers, each max_fails=0)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
