-- The Lua binding as a rock (issue #15), built from this checkout:
--   luarocks --lua-version 5.4 make ringside-dev-1.rockspec
-- meson builds the binding alone (-Dpackage=lua: the extension with
-- libringside linked in statically), so that machine needs meson, ninja,
-- swig, a C compiler, liblua5.4-dev and libmsgpack-dev. "dev": the version
-- is meson.build's, not repeated here. tests/packaging runs it offline.
rockspec_format = "3.0"
package = "ringside"
version = "dev-1"
-- `luarocks make` builds the checkout it is run in and fetches nothing;
-- a published rockspec would name the repository's URL here
source = { url = "." }
description = {
   summary = "Call busy LLM APIs through the ringside sidecar: priorities, limits, retries, failover",
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",   -- built against Lua 5.4's headers (pkg-config lua5.4)
}
build = {
   type = "command",
   -- the meson build directory lives in the checkout only while luarocks
   -- runs: install_command removes it
   build_command = [[rm -rf build-rock && meson setup build-rock . -Dpackage=lua -Dsidecar=false -Dtests=false -Dbench=false \
      -Ddebug=false -Doptimization=2 && ninja -C build-rock]],
   install_command = [[install -D -m 644 bindings/lua/ringside.lua "$(LUADIR)/ringside.lua" && \
      install -D -m 755 build-rock/bindings/lua/ringside_native.so "$(LIBDIR)/ringside_native.so" && \
      rm -rf build-rock]],
}
