"""Entry script of the PyInstaller bundle: the same ``labelaudit`` command the wheel installs."""

import multiprocessing
import sys

from labelaudit.gui.launch import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # joblib/multiprocessing children re-enter the frozen executable
    sys.exit(main())
