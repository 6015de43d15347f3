defmodule Hudson.Application do
  @moduledoc false
  use Application
  require Logger

  alias Hudson.Desktop.Config

  @impl true
  def start(_type, _args) do
    # Secure storage first: the server and the stdin reader both use it.
    storage = [Hudson.SecureStorage, Hudson.Desktop.SecretKeyBase]
    children = storage ++ if Application.get_env(:hudson, :server, false), do: desktop(), else: []
    Supervisor.start_link(children, strategy: :rest_for_one, name: Hudson.Supervisor)
  end

  # Environment read here, at run time: no config/runtime.exs, whose release
  # boot writes a sys.config into RELEASE_TMP (read-only under /usr/lib).
  defp desktop do
    config = Config.from_env(System.get_env())

    case Hudson.Native.status() do
      :ok -> :ok
      error -> Logger.error("NIF hudson_nif did not load (installation damaged): #{error}")
    end

    if not config.token_generated? and not Config.strong_token?(config.token) do
      Logger.warning("HUDSON_HANDSHAKE_TOKEN is not hex of at least 128 bits")
    end

    if System.get_env("HUDSON_TEST_CRASH_ONCE") == "1", do: crash_once(config.data_dir)
    Hudson.Desktop.children(config)
  end

  # Test hook: halt with a crash dump (ERL_CRASH_DUMP) once per data folder.
  defp crash_once(data_dir) do
    marker = Path.join(data_dir || System.tmp_dir!(), "test-crashed-once")

    unless File.exists?(marker) do
      File.write!(marker, "")

      spawn(fn ->
        Process.sleep(300)
        :erlang.halt(~c"forced crash (HUDSON_TEST_CRASH_ONCE test hook)")
      end)
    end
  end
end
