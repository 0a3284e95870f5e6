# crashcompat's GDB loader:  (gdb) source /path/to/crashcompat.gdb
# ("crashcompat gdb-script" prints the path.)  Registers the "crash" command: crash bt -a, crash log | tail,
# help crash.  GDB's Python may not be the one crashcompat was installed with: this finds the installation
# (and its dependencies) from the script's own location, and refuses a different Python minor version.
python
def _crashcompat_load():
    import json
    import os
    import shutil
    import site
    import subprocess
    import sys

    import gdb

    def fail(message):
        gdb.write("crashcompat: " + message + "\n", gdb.STDERR)

    if sys.version_info < (3, 10):
        fail("GDB's Python is %d.%d; crashcompat needs Python 3.10 or later" % sys.version_info[:2])
        return

    def importable():
        try:
            import crashcompat.core.session  # noqa: F401 - needs pluggy and tabulate too
        except ImportError:
            return False
        return True

    # GDB keeps the script it is sourcing open: find our own path among its open files.
    here = None
    fds = sorted((int(fd) for fd in os.listdir("/proc/self/fd")), reverse=True)
    for fd in fds:
        try:
            path = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue
        if path.endswith("/crashcompat.gdb"):
            here = path
            break
    root = os.path.dirname(os.path.dirname(os.path.dirname(here))) if here else None

    def python_of(executable):
        """Ask an interpreter for its version and site directories."""
        code = "import json,site,sys; print(json.dumps([sys.version_info[:2], site.getsitepackages()]))"
        try:
            out = subprocess.run([executable, "-c", code], capture_output=True, text=True, timeout=30)
            version, sites = json.loads(out.stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
        return tuple(version), sites

    found = None
    listed = os.environ.get("CRASHCOMPAT_SITE")  # set by "crashcompat --backend gdb"
    if listed:
        found = (sys.version_info[:2], listed.split(os.pathsep))
    elif root and os.path.basename(root) in ("site-packages", "dist-packages"):
        version = os.path.basename(os.path.dirname(root))  # .../lib/python3.X/site-packages
        if version.startswith("python"):
            major, _, minor = version[len("python"):].partition(".")
            if major.isdigit() and minor.isdigit():
                found = ((int(major), int(minor)), [root])
    if found is None and not importable():
        candidates = [os.environ.get("CRASHCOMPAT_PYTHON")]
        if os.environ.get("VIRTUAL_ENV"):
            candidates.append(os.path.join(os.environ["VIRTUAL_ENV"], "bin", "python"))
        if root:
            candidates.append(os.path.join(root, ".venv", "bin", "python"))
        script = shutil.which("crashcompat")
        if script:
            with open(script, "rb") as f:
                first = f.readline().decode("utf-8", "replace")
            if first.startswith("#!"):
                candidates.append(first[2:].strip().split()[0])
        for candidate in candidates:
            if candidate and os.access(candidate, os.X_OK):
                found = python_of(candidate)
                if found:
                    break
    if found is not None:
        version, sites = found
        if tuple(version) != sys.version_info[:2]:
            fail(
                "crashcompat is installed for Python %d.%d, but this GDB runs Python %d.%d; install it for "
                "GDB's Python (%s -m pip install crashcompat)" % (tuple(version) + sys.version_info[:2] + (sys.executable,))
            )
            return
        for directory in sites:
            if os.path.isdir(directory):
                site.addsitedir(directory)
        if root and root not in sys.path and os.path.isdir(os.path.join(root, "crashcompat")):
            sys.path.append(root)
    if not importable():
        fail("cannot find the crashcompat package and its dependencies (pluggy, pyelftools, tabulate) "
             "for GDB's Python; set CRASHCOMPAT_PYTHON to the python that has crashcompat installed")
        return
    import crashcompat.gdb  # noqa: F401 - registers the "crash" command


_crashcompat_load()
del _crashcompat_load
end
