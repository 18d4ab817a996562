#!/usr/bin/env python3
"""The module-cycle check against small crates made for it: it must fail on a folder-level
cycle that no two files close, on two files importing each other, and on a longer loop of
files, and pass a crate whose modules only use their own children or import one way.
Run by `scripts/test` before the check itself."""

import contextlib
import io
import os
import pathlib
import sys
import tempfile
import unittest

# No __pycache__ left beside the scripts.
sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_module_cycles  # noqa: E402


def check(files):
    """Runs the check on a crate of `files` ({path under src/: text}); its status and output."""
    with tempfile.TemporaryDirectory() as root:
        crate = pathlib.Path(root)
        (crate / "Cargo.toml").write_text('[package]\nname = "fixture"\n')
        for path, text in files.items():
            (crate / "src" / path).parent.mkdir(parents=True, exist_ok=True)
            (crate / "src" / path).write_text(text)
        out = io.StringIO()
        cwd = os.getcwd()
        os.chdir(crate)
        try:
            with contextlib.redirect_stdout(out):
                status = check_module_cycles.main()
        finally:
            os.chdir(cwd)
        return status, out.getvalue()


class ModuleCycles(unittest.TestCase):
    def test_a_loop_through_folders_fails_though_no_two_files_close_it(self):
        status, out = check({
            "lib.rs": "mod error;\nmod protocol;\nmod store;\n",
            "error.rs": "use crate::protocol::events::View;\n",
            "protocol/mod.rs": "pub mod events;\n",
            "protocol/events.rs": "use crate::store::rows::Row;\npub struct View;\n",
            "store/mod.rs": "pub mod rows;\n",
            "store/rows.rs": "use crate::error::Failure;\npub struct Row;\n",
        })
        self.assertEqual(status, 1, out)
        self.assertIn("folders importing each other", out)
        self.assertIn("protocol/", out)
        self.assertIn("store/", out)

    def test_two_files_importing_each_other_fail(self):
        status, out = check({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "use super::a::A;\npub struct B;\n",
        })
        self.assertEqual(status, 1, out)
        self.assertIn("modules importing each other", out)

    def test_a_longer_loop_of_files_fails(self):
        status, out = check({
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "fn f() { crate::b::g() }\n",
            "b.rs": "use crate::c::C;\npub fn g() {}\n",
            "c.rs": "use crate::a;\npub struct C;\n",
        })
        self.assertEqual(status, 1, out)

    def test_imports_one_way_and_a_parent_using_its_children_pass(self):
        status, out = check({
            "lib.rs": "mod store;\nmod views;\npub use store::Row;\n",
            "store/mod.rs": "mod rows;\npub use rows::Row;\n",
            "store/rows.rs": "pub struct Row;\n",
            "views.rs": "use crate::store::Row;\n// use crate::views; in a comment is no import\n",
        })
        self.assertEqual(status, 0, out)
        self.assertIn("module cycles: 0", out)


if __name__ == "__main__":
    unittest.main()
