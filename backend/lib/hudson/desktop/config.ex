defmodule Hudson.Desktop.Config do
  @moduledoc """
  The one place that knows the backend contract's environment variables
  (docs/ARCHITECTURE.md, "The backend contract"), read at run time, never at
  build time, so one release serves every launch.

  | variable | here |
  | --- | --- |
  | `PORT` | port to bind on 127.0.0.1; unset or `0` lets the OS choose |
  | `PHX_SERVER`, `PHX_HOST` | accepted; the server always runs and binds 127.0.0.1 only |
  | `HUDSON_HANDSHAKE_FILE` | where the handshake goes; default `<tmp>/hudson-handshake.json` (the pilot's path) |
  | `HUDSON_HANDSHAKE_TOKEN` | the enter token; unset: a random one is made and the enter URL logged (development) |
  | `HUDSON_DATA_DIR` | the data folder, shown on /settings; the local database is `<it>/db/hudson.sqlite3` (`database_file`); unset: no database |
  | `HUDSON_LOG_DIR` | accepted, shown on /settings |
  | `HUDSON_SERVER_SCHEMA` | test hook: the remote server's schema version; above 1 makes /healthz say `update_required` |
  | `HUDSON_IGNORE_STDIN` | `1` turns the stdin watcher off (manual runs) |
  | `HUDSON_STORAGE_SELFTEST` | test hook: `1` serves `/desktop/selftest/storage` |
  | `HUDSON_CHECK_DOWN` | test hook: one more `/healthz` check of that name, reported down |
  | `HUDSON_TEST_CRASH_ONCE` | test hook: `1` halts the VM with a crash dump once per data folder |
  | `HUDSON_TEST_DB_WRITER` | test hook: `<ms>` (10..60000) writes a cache entry every `<ms>` ms (`Hudson.Database`) |

  The test hooks belong to the reference backend; the shell never sets them.

  A Phoenix app reads the same variables in its `config/runtime.exs` or, for a
  release installed read-only, in `Application.start/2`.
  """

  @supported_schema 1

  @derive {Inspect, except: [:token]}
  defstruct port: 0,
            handshake_file: nil,
            token: nil,
            token_generated?: false,
            data_dir: nil,
            database_file: nil,
            db_writer_ms: nil,
            log_dir: nil,
            server_schema: nil,
            ignore_stdin?: false,
            storage_selftest?: false,
            check_down: nil

  @type t :: %__MODULE__{}

  @doc "The schema version of the remote server this backend speaks."
  def supported_schema, do: @supported_schema

  @doc "The pilot's handshake path, used when `HUDSON_HANDSHAKE_FILE` is unset."
  def default_handshake_file, do: Path.join(System.tmp_dir!(), "hudson-handshake.json")

  @doc "Builds the config from an environment map such as `System.get_env()`."
  @spec from_env(%{String.t() => String.t()}) :: t
  def from_env(env) do
    {token, generated?} =
      case present(env, "HUDSON_HANDSHAKE_TOKEN") do
        nil -> {Base.encode16(:crypto.strong_rand_bytes(32), case: :lower), true}
        token -> {token, false}
      end

    %__MODULE__{
      port: port(present(env, "PORT")),
      handshake_file:
        Path.expand(present(env, "HUDSON_HANDSHAKE_FILE") || default_handshake_file()),
      token: token,
      token_generated?: generated?,
      data_dir: present(env, "HUDSON_DATA_DIR"),
      database_file: database_file(present(env, "HUDSON_DATA_DIR")),
      db_writer_ms: writer_ms(present(env, "HUDSON_TEST_DB_WRITER")),
      log_dir: present(env, "HUDSON_LOG_DIR"),
      server_schema: schema(present(env, "HUDSON_SERVER_SCHEMA")),
      ignore_stdin?: present(env, "HUDSON_IGNORE_STDIN") == "1",
      storage_selftest?: present(env, "HUDSON_STORAGE_SELFTEST") == "1",
      check_down: present(env, "HUDSON_CHECK_DOWN")
    }
  end

  @doc "Whether the token meets the contract (hex, at least 128 bits); never fatal."
  def strong_token?(token), do: byte_size(token) >= 32 and token =~ ~r/\A[0-9a-fA-F]+\z/

  defp present(env, name) do
    case Map.get(env, name) do
      value when value in [nil, ""] -> nil
      value -> value
    end
  end

  defp port(nil), do: 0

  defp port(value) do
    case Integer.parse(value) do
      {n, ""} when n in 0..65535 -> n
      _ -> raise ArgumentError, "PORT must be an integer from 0 to 65535, got #{inspect(value)}"
    end
  end

  defp database_file(nil), do: nil
  defp database_file(data_dir), do: Hudson.Database.path(data_dir)

  defp writer_ms(nil), do: nil

  defp writer_ms(value) do
    case Integer.parse(value) do
      {n, ""} when n in 10..60_000 ->
        n

      _ ->
        raise ArgumentError,
              "HUDSON_TEST_DB_WRITER must be an interval in ms from 10 to 60000, got #{inspect(value)}"
    end
  end

  defp schema(nil), do: nil

  defp schema(value) do
    case Integer.parse(value) do
      {n, ""} when n >= 0 -> n
      _ -> raise ArgumentError, "HUDSON_SERVER_SCHEMA must be an integer, got #{inspect(value)}"
    end
  end
end
