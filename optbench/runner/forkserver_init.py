"""Preloaded first by the ``processes`` executor's fork server: from here on the fork server
(and every worker it forks) ignores Ctrl-C, so a Ctrl-C cannot interrupt the preload import
of the run loop; the process driving the sweep handles Ctrl-C itself."""
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
