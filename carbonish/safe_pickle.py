"""A restricted unpickler: builds lists, tuples, dicts, sets, strings, bytes and numbers,
nothing else. Any pickle that names a global (a class or function to call) is refused
before anything runs, so a malicious message cannot execute code."""
import io
import pickle


class UnsafePickle(ValueError):
    """A pickle that is malformed or asks for anything but plain data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise UnsafePickle(f"refused global {module}.{name}")

    def persistent_load(self, pid):
        raise UnsafePickle("refused persistent id")


# What a truncated or garbled pickle can raise inside the C unpickler.
_DECODE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
                  KeyError, AttributeError, RecursionError, OverflowError, UnicodeDecodeError)


def loads(data):
    """Decode `data` (bytes) with the restricted unpickler; raises UnsafePickle."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="utf-8",
                                    errors="surrogateescape").load()
    except UnsafePickle:
        raise
    except _DECODE_ERRORS as exc:
        raise UnsafePickle(f"malformed pickle: {type(exc).__name__}: {exc}") from None


def dumps(obj):
    """Encode plain data the way Graphite's peers expect (protocol 2 reads everywhere)."""
    return pickle.dumps(obj, protocol=2)
