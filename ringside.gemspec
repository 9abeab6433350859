# The Ruby binding as a gem (issue #15), from the repository's root:
#   gem build ringside.gemspec && gem install ringside-<version>.gem
# The gem carries what meson needs to build the binding alone
# (-Dpackage=ruby: the extension with libringside linked in statically);
# bindings/ruby/extconf.rb runs meson when the gem is installed, so that
# machine needs meson, ninja, swig, a C compiler, ruby-dev and
# libmsgpack-dev. tests/packaging builds and installs it offline.
require "json"

Gem::Specification.new do |s|
  s.name = "ringside"
  # meson.build holds the one version; meson reads it for us
  s.version = JSON.parse(IO.popen(["meson", "introspect", "--projectinfo", File.join(__dir__, "meson.build")],
                                  err: File::NULL, &:read))["version"]
  s.summary = "Call busy LLM APIs through the ringside sidecar: priorities, limits, retries, failover"
  s.authors = ["ringside"]
  s.license = "MIT"
  s.files = Dir.chdir(__dir__) do
    Dir["README.md", "meson.build", "meson_options.txt", "core/**/*.{c,h,map}", "core/meson.build",
        "bindings/*.{i,c,h}", "bindings/meson.build", "bindings/ruby/**/*.{rb,build,map}"]
  end
  s.require_paths = ["bindings/ruby"]
  s.extensions = ["bindings/ruby/extconf.rb"]
end
