"""The Lua binding as a rock (ringside-dev-1.rockspec): `luarocks make`
from the repository into a fresh tree, then the binding tests with that
tree as the only place Lua finds ringside.
"""
import os

import pytest

from pkgtest import HARNESS, PYTHON, SRC, WORK, assert_self_contained, assert_source_untouched, binding_env, \
    clean_env, fresh, install, run, source_status

DIR = os.path.join(WORK, "rock")
TREE = os.path.join(DIR, "tree")
LUA_DIR = os.path.join(TREE, "share", "lua", "5.4")
LIB_DIR = os.path.join(TREE, "lib", "lua", "5.4")
# ";;" keeps Lua's default paths after the tree's, as `luarocks path` does
LUA_ENV = {"LUA_PATH": LUA_DIR + "/?.lua;;", "LUA_CPATH": LIB_DIR + "/?.so;;"}


@pytest.fixture(scope="module")
def rock():
    """The rock made from the repository (output and time in rock-make.log)."""
    fresh(DIR)
    before = source_status()
    # luarocks make builds the checkout it runs in
    install(DIR, "rock-make", ["luarocks", "--lua-version", "5.4", "make", "--tree", TREE,
                               os.path.join(SRC, "ringside-dev-1.rockspec")], clean_env(DIR), SRC)
    return before


# Loads both modules, native first: require's second result is the file a
# module came from, and only for the call that loaded it.
WHERE = ('local _, native = require "ringside_native"; local _, lua = require "ringside"; '
         'for _, p in ipairs({native, lua}) do assert(p:find(os.getenv("RS_TREE"), 1, true) == 1, '
         '"ringside from " .. p .. ", not the rock\'s tree") end')


def test_loads_from_the_tree(rock):
    r = run(["lua5.4", "-e", WHERE + '; print(require("ringside").VERSION)'],
            clean_env(DIR, RS_TREE=TREE + os.sep, **LUA_ENV), DIR)
    assert r.returncode == 0, r.stdout
    assert r.stdout.strip() == os.environ["RINGSIDE_VERSION"]


def test_extension_needs_nothing_from_the_build(rock):
    assert_self_contained(os.path.join(LIB_DIR, "ringside_native.so"), "luaopen_ringside_native", DIR)


def test_binding_tests_pass_from_the_tree(rock):
    tests = os.path.join(SRC, "tests", "bindings", "lua", "test_ringside.lua")
    r = run([PYTHON, HARNESS, "--", "lua5.4", "-e", WHERE, tests],
            binding_env(DIR, RS_TREE=TREE + os.sep, **LUA_ENV), DIR)
    print(r.stdout)
    assert r.returncode == 0, "the Lua binding tests failed from the rock:\n" + r.stdout[-8000:]


def test_source_tree_untouched(rock):
    """luarocks make builds in build-rock/ in the checkout; the rockspec's
    install step removes it."""
    assert_source_untouched(rock, ("build-rock",))
