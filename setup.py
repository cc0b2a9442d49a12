"""Builds narwhal._core with CMake (the C++ core) and installs it inside the narwhal package.

`pip install --no-build-isolation .` runs this with the target interpreter, so the module is
built against that interpreter's headers (Debian's python3-dev).
"""

import os
import shutil
import subprocess
import sys
import sysconfig

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
        subprocess.check_call(configure)
        jobs = str(os.cpu_count() or 2)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "narwhal_core", "-j", jobs])
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = os.path.join(build_dir, "src", "module", "_core" + suffix)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(ext_modules=[CMakeExtension("narwhal._core")], cmdclass={"build_ext": CMakeBuild})
