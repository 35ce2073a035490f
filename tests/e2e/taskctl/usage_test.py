#!/usr/bin/env python3
"""taskctl usage errors exit 2 naming the flag; an unknown id exits 1."""
import taskctl_lib as lib
from taskctl_lib import check, ok, tc


def body():
    for args, needle in ((["submit", "--timeout", "soon", "--", "true"], "--timeout"),
                         (["submit"], "command"), (["frobnicate"], ""),
                         (["list", "--state", "sleeping"], "--state"),
                         (["list", "-o", "xml"], "xml"), (["completion", "fish"], "fish")):
        r = tc(*args)
        check(r.returncode == 2, "%s: exit %d (usage error expected)" % (args, r.returncode))
        check(needle in r.stderr, "%s: message %r does not name %s" % (args, r.stderr, needle))
    r = tc("get", "00000000000ZZ")
    check(r.returncode == 1 and "not found" in r.stderr, "get unknown: %r" % r.stderr)
    ok("usage errors exit 2 naming the flag; unknown id exits 1")


lib.run("usage", body)
