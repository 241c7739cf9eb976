"""Only what pyproject.toml cannot say: ship loadtest-help.pth next to the package.

The .pth file makes ``locust -f x.py --help`` list the --ws-* options (see loadtest/locust_help.py).
Setuptools has no declarative way to put a file at the root of site-packages.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "loadtest-help.pth"


class BuildPyWithHelpHook(build_py):
    """Copy the .pth file to the root of the build (the wheel's purelib)."""

    def run(self) -> None:
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH), preserve_mode=0)
        if getattr(self, "editable_mode", False):
            # An editable wheel is made of the files written to install_lib (its unpacked root),
            # not of build_lib: put the hook there too.
            root = self.get_finalized_command("install").install_lib
            self.copy_file(PTH, os.path.join(root, PTH), preserve_mode=0)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(cmdclass={"build_py": BuildPyWithHelpHook})
