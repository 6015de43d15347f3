defmodule Hudson.Database do
  @moduledoc """
  The app's local SQLite database: one process owning the one connection
  (through `Hudson.Native`'s `db_*` NIFs) to
  `<HUDSON_DATA_DIR>/db/hudson.sqlite3`, in WAL mode.

  At start it opens the file (creating it and its `db` folder) and applies
  the migrations of `Hudson.Database.Migrations` it has not applied yet, in
  order, each in one transaction (`BEGIN IMMEDIATE`, the migration,
  `PRAGMA user_version = N`, `COMMIT`; `ROLLBACK` on error), logging each
  one. This is the product's "SQLite migrations run on client startup": the
  local database only, never a remote one (a remote server's schema is the
  server's business; see `HUDSON_SERVER_SCHEMA` in `Hudson.Desktop.Config`).

  A database whose schema (`user_version`) is newer than the migrations know
  was written by a newer version of Hudson (a downgrade the update's rollback
  did not undo): it is refused, closed unchanged, and `status/0` says so.

  Nothing here stops the application: without `HUDSON_DATA_DIR`, without a
  NIF that has SQLite, or when the file cannot be opened or migrated, the
  process runs anyway, holds `{:error, reason}`, answers every call with it,
  and `/healthz` reports the `database` check down with that reason.

  It traps exits so that a graceful stop closes the connection (`terminate/2`),
  which checkpoints the WAL and leaves no `-wal` file behind.

  Test hook (reference backend only; the shell never sets it):
  `HUDSON_TEST_DB_WRITER=<ms>` (the `:writer_ms` option) writes one cache
  entry every `<ms>` ms, key `tick-<unix ms>-<n>`, value `tick <n>`, so the
  update tests have a backend writing during updates.
  """
  use GenServer
  require Logger

  alias Hudson.Database.Migrations

  @file_in_data_dir "db/hudson.sqlite3"
  @max_key_bytes 200
  @max_value_bytes 65_536
  # What list/1 returns at most (status/1 counts them all).
  @list_limit 1_000
  # busy_timeout is 5 s; leave room for it.
  @call_timeout 10_000

  @type server :: GenServer.server()
  @type entry :: %{
          key: String.t(),
          value: String.t(),
          written_by: String.t(),
          updated_at: integer
        }

  @doc """
  Options: `:data_dir` (nil: no database), `:name` (default `#{inspect(__MODULE__)}`),
  `:writer_ms` (the `HUDSON_TEST_DB_WRITER` test hook; nil: off), and for
  tests `:migrations` (default `Hudson.Database.Migrations.all/0`).
  """
  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: Keyword.get(opts, :name, __MODULE__))
  end

  def child_spec(opts) do
    %{id: Keyword.get(opts, :name, __MODULE__), start: {__MODULE__, :start_link, [opts]}}
  end

  @doc "Where the database lives in a data folder: `<data_dir>/db/hudson.sqlite3`."
  @spec path(Path.t()) :: Path.t()
  def path(data_dir), do: Path.join(Path.expand(data_dir), @file_in_data_dir)

  @doc "The database's path relative to the data folder."
  def relative_path, do: @file_in_data_dir

  @doc "The largest key and value `put/3` accepts, in bytes."
  def limits, do: %{key: @max_key_bytes, value: @max_value_bytes}

  @doc """
  `{:ok, %{schema: n, entries: count, path: path}}` once open and migrated;
  otherwise `{:error, reason}`, why it is not.
  """
  @spec status(server, timeout) ::
          {:ok, %{schema: non_neg_integer, entries: non_neg_integer, path: Path.t()}}
          | {:error, String.t()}
  def status(server \\ __MODULE__, timeout \\ @call_timeout),
    do: call(server, :status, timeout)

  @doc "The schema version (`PRAGMA user_version`) the database is at."
  @spec schema_version(server) :: {:ok, non_neg_integer} | {:error, String.t()}
  def schema_version(server \\ __MODULE__), do: call(server, :schema_version, @call_timeout)

  @doc """
  Stores `value` under `key` in the cache, with this app version as
  `written_by`. Keys: 1 to #{@max_key_bytes} bytes of UTF-8; values: UTF-8,
  at most #{@max_value_bytes} bytes.
  """
  @spec put(String.t(), String.t(), server) :: :ok | {:error, String.t()}
  def put(key, value, server \\ __MODULE__) do
    with :ok <- check_key(key), :ok <- check_value(value) do
      call(server, {:put, key, value}, @call_timeout)
    end
  end

  @doc "The value stored under `key`."
  @spec get(String.t(), server) :: {:ok, String.t()} | {:error, :not_found | String.t()}
  def get(key, server \\ __MODULE__) do
    with :ok <- check_key(key), do: call(server, {:get, key}, @call_timeout)
  end

  @doc "The cache's entries ordered by key, the first #{@list_limit} of them."
  @spec list(server) :: {:ok, [entry]} | {:error, String.t()}
  def list(server \\ __MODULE__), do: call(server, :list, @call_timeout)

  defp call(server, request, timeout) do
    GenServer.call(server, request, timeout)
  catch
    :exit, {:timeout, _} -> {:error, "the database did not answer within #{timeout} ms"}
    :exit, _ -> {:error, "the database process is not running"}
  end

  defp check_key(key) when is_binary(key) do
    cond do
      key == "" -> {:error, "the key is empty"}
      byte_size(key) > @max_key_bytes -> {:error, too_large("key", key, @max_key_bytes)}
      not String.valid?(key) -> {:error, "the key is not UTF-8 text"}
      true -> :ok
    end
  end

  defp check_key(_key), do: {:error, "the key must be a string"}

  defp check_value(value) when is_binary(value) do
    cond do
      byte_size(value) > @max_value_bytes -> {:error, too_large("value", value, @max_value_bytes)}
      not String.valid?(value) -> {:error, "the value is not UTF-8 text"}
      true -> :ok
    end
  end

  defp check_value(_value), do: {:error, "the value must be a string"}

  defp too_large(what, text, max),
    do: "the #{what} is #{byte_size(text)} bytes; at most #{max} bytes are stored"

  ## Server

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)

    state = %{
      conn: nil,
      path: nil,
      error: "the database is still opening",
      writer_ms: opts[:writer_ms],
      ticks: 0,
      tick_failed?: false
    }

    # Open and migrate after init returns, so the supervisor (and the HTTP
    # server after it) starts at once; calls made meanwhile wait for it.
    migrations = Keyword.get_lazy(opts, :migrations, &Migrations.all/0)
    {:ok, state, {:continue, {:open, opts[:data_dir], migrations}}}
  end

  @impl true
  def handle_continue({:open, data_dir, migrations}, state) do
    state =
      case safely_open(data_dir, migrations) do
        {:ok, conn, path} ->
          %{state | conn: conn, path: path, error: nil}

        # Without a data folder (a development run) there is nothing to report.
        {:error, reason, nil} ->
          Logger.info("database: #{reason}")
          %{state | error: reason}

        {:error, reason, path} ->
          Logger.error("database: #{reason}")
          %{state | path: path, error: reason}
      end

    if state.writer_ms, do: Process.send_after(self(), :tick, state.writer_ms)
    {:noreply, state}
  end

  @impl true
  def handle_call(_request, _from, %{conn: nil} = state),
    do: {:reply, {:error, state.error}, state}

  def handle_call(:status, _from, state) do
    reply =
      with {:ok, schema} <- user_version(state.conn),
           {:ok, [[count]]} <- query(state.conn, "SELECT count(*) FROM cache", []) do
        {:ok, %{schema: schema, entries: count, path: state.path}}
      end

    {:reply, reply, state}
  end

  def handle_call(:schema_version, _from, state),
    do: {:reply, user_version(state.conn), state}

  def handle_call({:put, key, value}, _from, state),
    do: {:reply, write(state.conn, key, value), state}

  def handle_call({:get, key}, _from, state) do
    reply =
      case query(state.conn, "SELECT value FROM cache WHERE key = ?1", [key]) do
        {:ok, [[value]]} -> {:ok, value}
        {:ok, []} -> {:error, :not_found}
        {:error, _} = error -> error
      end

    {:reply, reply, state}
  end

  def handle_call(:list, _from, state) do
    sql = "SELECT key, value, written_by, updated_at FROM cache ORDER BY key LIMIT ?1"

    reply =
      with {:ok, rows} <- query(state.conn, sql, [@list_limit]) do
        {:ok,
         for [key, value, by, at] <- rows do
           %{key: key, value: value, written_by: by, updated_at: at}
         end}
      end

    {:reply, reply, state}
  end

  @impl true
  def handle_info(:tick, %{conn: nil} = state), do: {:noreply, state}

  def handle_info(:tick, state) do
    n = state.ticks + 1
    key = "tick-#{System.os_time(:millisecond)}-#{n}"

    failed? =
      case write(state.conn, key, "tick #{n}") do
        :ok ->
          false

        {:error, reason} ->
          # Once per run of failures: at 10 ms a tick, a log line each would flood.
          unless state.tick_failed?,
            do: Logger.warning("database: the test writer could not write: #{reason}")

          true
      end

    Process.send_after(self(), :tick, state.writer_ms)
    {:noreply, %{state | ticks: n, tick_failed?: failed?}}
  end

  # Exits of linked processes (trap_exit); the supervisor's arrive as terminate/2.
  def handle_info(_message, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, %{conn: conn}) when conn != nil do
    case Hudson.Native.db_close(conn) do
      :ok -> :ok
      {:error, reason} -> Logger.error("database: #{reason}")
    end
  end

  def terminate(_reason, _state), do: :ok

  ## Opening and migrating

  # Whatever goes wrong, the process lives on and reports it.
  defp safely_open(data_dir, migrations) do
    open(data_dir, migrations)
  rescue
    e ->
      {:error, "opening the database failed: #{Exception.message(e)}", data_dir && path(data_dir)}
  end

  defp open(nil, _migrations), do: {:error, "HUDSON_DATA_DIR is not set: no database", nil}

  defp open(data_dir, migrations) do
    path = path(data_dir)

    result =
      with :ok <- nif_loaded(),
           :ok <- mkdir(Path.dirname(path)),
           {:ok, conn} <- native(fn -> Hudson.Native.db_open(path) end) do
        case migrate(conn, path, migrations) do
          :ok ->
            {:ok, conn, path}

          {:error, reason} ->
            Hudson.Native.db_close(conn)
            {:error, reason}
        end
      end

    case result do
      {:ok, _conn, _path} = ok -> ok
      {:error, reason} -> {:error, reason, path}
    end
  end

  defp nif_loaded do
    case Hudson.Native.status() do
      :ok -> :ok
      error -> {:error, "the hudson_nif library did not load (#{error}): no database"}
    end
  end

  defp mkdir(dir) do
    case File.mkdir_p(dir) do
      :ok ->
        :ok

      {:error, reason} ->
        {:error, "cannot create the folder #{dir}: #{:file.format_error(reason)}"}
    end
  end

  # A library built without its `sqlite` feature loads, but its db_* functions
  # are the Elixir stubs, which raise.
  defp native(fun) do
    fun.()
  rescue
    e in [ErlangError, UndefinedFunctionError] ->
      if match?(%UndefinedFunctionError{}, e) or e.original == :nif_not_loaded do
        {:error,
         "the hudson_nif library has no SQLite (built without its `sqlite` feature): " <>
           "the database cannot be opened; build it with its default features"}
      else
        reraise e, __STACKTRACE__
      end
  end

  defp migrate(conn, path, migrations) do
    latest = migrations |> Enum.map(&elem(&1, 0)) |> Enum.max(fn -> 0 end)

    case user_version(conn) do
      {:ok, current} when current > latest ->
        {:error,
         "the database has schema #{current}, newer than this version of Hudson knows " <>
           "(#{latest}): it was written by a newer version"}

      {:ok, current} ->
        pending = for {version, _, _} = m <- migrations, version > current, do: m
        apply_all(conn, path, current, pending)

      {:error, reason} ->
        {:error, "cannot read the schema version of #{path}: #{reason}"}
    end
  end

  defp apply_all(_conn, path, current, []) do
    Logger.info("database: opened #{path} at schema #{current}, nothing to migrate")
    :ok
  end

  defp apply_all(conn, path, current, [{version, name, sql} | rest]) do
    batch = "BEGIN IMMEDIATE;\n#{sql}\nPRAGMA user_version = #{version};\nCOMMIT;"

    case Hudson.Native.db_execute_batch(conn, batch) do
      :ok ->
        Logger.info("database: migrated #{path} from schema #{current} to #{version} (#{name})")

        if rest == [] do
          # One line with the schema reached (the update tests wait for
          # "to schema N" in the shell's log).
          Logger.info("database: opened #{path}, migrated to schema #{version}")
          :ok
        else
          apply_all(conn, path, version, rest)
        end

      {:error, reason} ->
        # Fails harmlessly when the error already ended the transaction.
        Hudson.Native.db_execute_batch(conn, "ROLLBACK")

        {:error,
         "migration #{version} (#{name}) failed and was rolled back, " <>
           "leaving #{path} at schema #{current}: #{reason}"}
    end
  end

  ## Queries

  defp user_version(conn) do
    case query(conn, "PRAGMA user_version", []) do
      {:ok, [[version]]} -> {:ok, version}
      {:ok, other} -> {:error, "PRAGMA user_version answered #{inspect(other)}"}
      {:error, _} = error -> error
    end
  end

  defp write(conn, key, value) do
    sql = """
    INSERT INTO cache (key, value, written_by, updated_at) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (key) DO UPDATE SET
      value = excluded.value, written_by = excluded.written_by, updated_at = excluded.updated_at
    """

    params = [key, value, Hudson.version(), System.os_time(:millisecond)]

    case Hudson.Native.db_execute(conn, sql, params) do
      {:ok, 1} -> :ok
      {:ok, n} -> {:error, "writing #{inspect(key)} changed #{n} rows, not 1"}
      {:error, _} = error -> error
    end
  end

  defp query(conn, sql, params), do: Hudson.Native.db_query(conn, sql, params)
end
