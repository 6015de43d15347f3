defmodule Hudson.Native do
  @moduledoc """
  The `hudson_nif` Rust library (backend/native/hudson_nif).

  Loading never fails the module: a missing or broken library leaves the stubs
  below in place and records why in `status/0`, so the backend still starts and
  `/healthz` reports the error; the desktop shell then shows its "installation
  damaged" page instead of a backend that dies before it can say anything.
  """
  @on_load :load_nif

  @doc "Name of the library as reported under `nifs` in `/healthz`."
  def nif_name, do: "hudson_nif"

  @doc "`:ok`, or why the library did not load."
  @spec status() :: :ok | String.t()
  def status, do: :persistent_term.get({__MODULE__, :status}, "not loaded")

  @doc "True when both binaries are equal, in time independent of their content."
  @spec secure_compare(binary, binary) :: boolean
  def secure_compare(_a, _b), do: :erlang.nif_error(:nif_not_loaded)

  # The local SQLite database (the crate's `sqlite` feature, on by default).
  # A library built without it has none of these, and loads anyway: the stubs
  # stay and raise `:nif_not_loaded` (`Hudson.Database` reports that). All of
  # them run on a dirty I/O scheduler and answer `{:error, message}`, never
  # raise, for anything SQLite or the arguments get wrong (a wrong type
  # included: SQL that is not a binary, a term that is not a connection); a
  # later call on a closed connection answers `{:error, "the database is
  # closed"}`.

  @typedoc "A connection (a NIF resource): one `db_open/1`, closed by `db_close/1`."
  @type conn :: reference

  @typedoc "A parameter or a column: text and blobs are binaries, NULL is nil."
  @type value :: integer | float | binary | nil

  @doc """
  Opens the SQLite database at `path`, creating the file if missing (not its
  folder), in WAL mode (checked), with `synchronous=NORMAL`, a 5 s busy
  timeout and foreign keys on.
  """
  @spec db_open(Path.t()) :: {:ok, conn} | {:error, String.t()}
  def db_open(_path), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Runs several statements with no parameters and no rows (a migration)."
  @spec db_execute_batch(conn, String.t()) :: :ok | {:error, String.t()}
  def db_execute_batch(_conn, _sql), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Runs one statement with positional parameters (`?1`, `?2`, … or `?`);
  answers the number of rows it changed. A binary parameter is bound as text
  when it is UTF-8, as a blob otherwise.
  """
  @spec db_execute(conn, String.t(), [value]) :: {:ok, non_neg_integer} | {:error, String.t()}
  def db_execute(_conn, _sql, _params), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Runs one query; answers its rows, each a list of values in column order.
  More than 10 000 rows is an error: narrow the query instead.
  """
  @spec db_query(conn, String.t(), [value]) :: {:ok, [[value]]} | {:error, String.t()}
  def db_query(_conn, _sql, _params), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Closes the connection: SQLite checkpoints the WAL into the database file
  and removes the `-wal` when it was the last connection. Closing twice is
  `:ok`.
  """
  @spec db_close(conn) :: :ok | {:error, String.t()}
  def db_close(_conn), do: :erlang.nif_error(:nif_not_loaded)

  @doc false
  def load_nif do
    status =
      try do
        case :erlang.load_nif(path(), 0) do
          :ok -> :ok
          {:error, {reason, text}} -> "#{reason}: #{text}"
          {:error, other} -> inspect(other)
        end
      rescue
        e -> Exception.message(e)
      end

    :persistent_term.put({__MODULE__, :status}, status)
    :ok
  end

  # load_nif/2 wants the path without extension: it appends .so (every Unix) or .dll.
  defp path do
    priv =
      case :code.priv_dir(:hudson) do
        {:error, reason} -> raise "no priv dir for :hudson (#{reason})"
        dir -> dir
      end

    file = if match?({:win32, _}, :os.type()), do: "hudson_nif", else: "libhudson_nif"
    priv |> Path.join("native/#{file}") |> String.to_charlist()
  end
end
