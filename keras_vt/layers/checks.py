"""`keras_vt.checks` under its former name: `from keras_vt.layers import checks` still works.

The validation helpers moved to the package root (`keras_vt/checks.py`, pure Python, no backend)
so that modules which import no backend can import them at module top.
"""

import sys

from keras_vt import checks

sys.modules[__name__] = checks
