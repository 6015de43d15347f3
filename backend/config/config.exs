import Config

# The HTTP server, handshake and stdin watcher start with the application except
# under ExUnit, whose tests start their own servers on their own ports.
config :hudson, server: config_env() != :test

# Only on in the release: `iex -S mix` would otherwise compete with IEx for stdin.
# HUDSON_IGNORE_STDIN=1 turns it off at run time (manual `bin/hudson start`).
config :hudson, stdin_watcher: config_env() == :prod

# stdout carries exactly one line, `PORT:<n>`; logs go to stderr (the shell keeps both).
config :logger, :console, device: :standard_error, format: "$time [$level] $message\n"

if config_env() == :prod, do: config(:logger, level: :info)
if config_env() == :test, do: config(:logger, level: :warning)
