defmodule Hudson.Desktop do
  @moduledoc """
  Wires the backend contract into a supervision tree: the local database
  (`Hudson.Database`, which the pages use), the HTTP server, then the
  handshake (written once the server listens), then the stdin watcher.
  Start the children under a `:rest_for_one` supervisor, so a server that
  restarts on a new port is announced again.
  """
  alias Hudson.Desktop.{Config, Guard, Handshake, StdinWatcher}

  @doc """
  The children for `config`. Options (tests use them to run several backends
  in one VM): `:name` of the server (default `Hudson.Web.Server`), `:database`,
  the name of its `Hudson.Database` (default `Hudson.Database`), `:device`
  for the `PORT:` line (default `:stdio`), `:watch_stdin` (default: app env
  `:stdin_watcher` unless `HUDSON_IGNORE_STDIN=1`).
  """
  @spec children(Config.t(), keyword) :: [Supervisor.child_spec() | {module, term} | module]
  def children(%Config{} = config, opts \\ []) do
    name = Keyword.get(opts, :name, Hudson.Web.Server)
    database_name = Keyword.get(opts, :database, Hudson.Database)

    # Funs, not values: child start arguments are printed in supervisor reports.
    token = config.token
    session_id = Guard.new_session_id()
    secrets = fn -> %{token: token, session_id: session_id} end

    server = [
      name: name,
      port: config.port,
      secrets: secrets,
      server_schema: config.server_schema,
      storage_selftest: config.storage_selftest?,
      check_down: config.check_down,
      data_dir: config.data_dir,
      log_dir: config.log_dir,
      database: database_name
    ]

    database = [name: database_name, data_dir: config.data_dir, writer_ms: config.db_writer_ms]

    handshake = [
      port_fun: fn -> Hudson.Web.Server.port(name) end,
      file: config.handshake_file,
      token: fn -> token end,
      version: Hudson.version(),
      device: Keyword.get(opts, :device, :stdio),
      log_enter_url: config.token_generated?
    ]

    watch_stdin? =
      Keyword.get_lazy(opts, :watch_stdin, fn ->
        Application.get_env(:hudson, :stdin_watcher, false) and not config.ignore_stdin?
      end)

    [{Hudson.Database, database}, {Hudson.Web.Server, server}, {Handshake, handshake}] ++
      if(watch_stdin?, do: [StdinWatcher], else: [])
  end
end
