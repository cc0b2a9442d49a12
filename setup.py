"""Builds narwhal._core with CMake (the C++ core) and installs it inside the narwhal package.

`pip install --no-build-isolation .` runs this with the target interpreter, so the module is
built against that interpreter's headers (Debian's python3-dev).
"""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build_dir = os.environ.get("NARWHAL_CMAKE_BUILD_DIR", os.path.join(ROOT, "build", "python"))
        build_type = os.environ.get("NARWHAL_BUILD_TYPE", "RelWithDebInfo")
        configure = [
            "cmake", "-S", ROOT, "-B", build_dir,
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DNARWHAL_BUILD_TESTS=OFF",
        ]
        if os.environ.get("NARWHAL_SANITIZE"):
            configure.append("-DNARWHAL_SANITIZE=ON")
        # A tree configured by `make build` (same interpreter ABI) is reused as it is.
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            subprocess.check_call(configure)
        jobs = str(os.cpu_count() or 2)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "narwhal_core", "-j", jobs])
        candidates = glob.glob(os.path.join(build_dir, "src", "module", "_core*.so"))
        if not candidates:
            raise RuntimeError(f"CMake did not produce _core*.so in {build_dir}/src/module")
        built = max(candidates, key=os.path.getmtime)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(ext_modules=[CMakeExtension("narwhal._core")], cmdclass={"build_ext": CMakeBuild})
