"""The Ruby binding as a gem (ringside.gemspec): `gem build`, then
`gem install --local` into a fresh GEM_HOME, then the binding tests with
the gem as the only copy of ringside Ruby can find.
"""
import os
import tarfile

import pytest

from pkgtest import HARNESS, PYTHON, SRC, VERSION, WORK, assert_self_contained, assert_source_untouched, \
    binding_env, clean_env, fresh, install, run, source_status

DIR = os.path.join(WORK, "gem")
GEM = os.path.join(DIR, "ringside.gem")
GEM_HOME = os.path.join(DIR, "gem-home")


def env(**extra):
    return clean_env(DIR, GEM_HOME=GEM_HOME, **extra)


@pytest.fixture(scope="module")
def gem():
    """The gem built from the repository and installed (output and time
    in gem-build.log and gem-install.log)."""
    fresh(DIR)
    before = source_status()
    # from the repository: gem build checks the spec's files from there
    install(DIR, "gem-build", ["gem", "build", os.path.join(SRC, "ringside.gemspec"), "--output", GEM], env(), SRC)
    install(DIR, "gem-install", ["gem", "install", "--local", "--no-document", GEM], env(), DIR)
    return before


def test_gem_holds_the_binding_sources_only(gem):
    with tarfile.open(GEM) as outer:
        with tarfile.open(fileobj=outer.extractfile("data.tar.gz")) as data:
            files = data.getnames()
    assert "bindings/ruby/ringside.rb" in files and "bindings/ruby/extconf.rb" in files and "core/ringside.h" in files
    others = [f for f in files if f.startswith(("sidecar/", "tests/", "bench/", "tools/", "deploy/", "bindings/python",
                                                "bindings/lua"))]
    assert not others, f"the gem carries what the Ruby binding does not need: {others}"


def loaded():
    """Ringside::VERSION and the files `require "ringside"` loaded."""
    code = 'require "ringside"; puts Ringside::VERSION; puts $LOADED_FEATURES.grep(/ringside/)'
    r = run(["ruby", "-e", code], env(), DIR)
    assert r.returncode == 0, r.stdout
    version, *features = r.stdout.split()
    return version, features


def test_loads_from_the_gem(gem):
    version, features = loaded()
    assert version == VERSION
    assert len(features) == 2 and all(f.startswith(GEM_HOME + os.sep) for f in features), features


def test_extension_needs_nothing_from_the_build(gem):
    native = [f for f in loaded()[1] if f.endswith("/ringside/native.so")]
    assert len(native) == 1, native
    assert_self_contained(native[0], "Init_native", DIR)


def test_binding_tests_pass_from_the_gem(gem):
    """tests/bindings/ruby under harness.py, the gem's native.so checked to
    be the one loaded."""
    check = ('require "ringside"; n = $LOADED_FEATURES.grep(%r{/ringside/native\\.so$}); '
             'abort "native.so from #{n}, not the gem" unless n.size == 1 && n[0].start_with?(ENV["GEM_HOME"] + "/")')
    tests = os.path.join(SRC, "tests", "bindings", "ruby", "test_ringside.rb")
    r = run([PYTHON, HARNESS, "--", "ruby", "-e", check + "; load ARGV.shift", tests],
            binding_env(DIR, GEM_HOME=GEM_HOME), DIR)
    print(r.stdout)
    assert r.returncode == 0, "the Ruby binding tests failed from the gem:\n" + r.stdout[-8000:]


def test_source_tree_untouched(gem):
    """gem build writes the gem elsewhere (--output); the extension is
    built inside the installed gem."""
    assert_source_untouched(gem, ("meson-build",))
