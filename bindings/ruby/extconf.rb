# Builds the gem's extension (ringside/native.so) with meson, as every
# other build of ringside is built, instead of mkmf: -Dpackage=ruby builds
# the Ruby binding alone, libringside linked in statically. RubyGems runs
# this script in this directory, then `make` and `make install`, having
# pointed RbConfig's sitearchdir at the directory it collects from.
require "rbconfig"
require "shellwords"

src = File.expand_path("../..", __dir__)
build = File.join(Dir.pwd, "meson-build")
sitearch = RbConfig::CONFIG["sitearchdir"]
# the Ruby that runs `gem install` is the one to build for: its program,
# and its pkg-config file for the headers
File.write("native.ini", "[binaries]\nruby = '#{RbConfig.ruby}'\n")
pkgconfig = [File.join(RbConfig::CONFIG["libdir"], "pkgconfig"), ENV["PKG_CONFIG_PATH"]].compact.join(":")

File.write("Makefile", <<~MAKE)
  all:
  \tPKG_CONFIG_PATH=#{pkgconfig.shellescape} meson setup --native-file native.ini #{build.shellescape} #{src.shellescape} \\
  \t  -Dpackage=ruby -Dsidecar=false -Dtests=false -Dbench=false -Ddebug=false -Doptimization=2
  \tninja -C #{build.shellescape}

  install:
  \tmkdir -p $(DESTDIR)#{sitearch.shellescape}/ringside
  \tcp #{build.shellescape}/bindings/ruby/ringside/native.so $(DESTDIR)#{sitearch.shellescape}/ringside/
  \trm -rf #{build.shellescape}

  clean:
  \trm -rf #{build.shellescape}
MAKE
