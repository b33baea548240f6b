"""Stand-in for the get-pip script that ansible-test downloads from a host this project cannot reach.

ansible-test runs it to put pip into each fresh sanity virtualenv; this installs
the requested pip from the package index instead, after bootstrapping with the
pip that ships inside CPython (ensurepip).
"""

import subprocess
import sys

# get-pip options that pip itself does not know
_GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *[a for a in sys.argv[1:] if a not in _GET_PIP_ONLY]])
