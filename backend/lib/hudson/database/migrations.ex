defmodule Hudson.Database.Migrations do
  @moduledoc """
  The local database's schema, as numbered migrations that `Hudson.Database`
  applies at boot, in order, each in its own transaction, and records in
  SQLite's `PRAGMA user_version`.

  To change the schema, append an entry numbered one above the last; never
  edit or remove a released one (installs have already run it). A migration
  holds no transaction statements (`BEGIN`, `COMMIT`): the runner wraps it.

  The list below is one literal, closed by a line that is exactly two spaces
  and `]`: the update tests (`cargo xtask e2e-update`) append migrations to
  a scratch copy of this file by text replacement, to build a next version.
  """

  @migrations [
    {1, "create the cache table",
     """
     CREATE TABLE cache (
       key TEXT PRIMARY KEY,
       value TEXT NOT NULL,
       written_by TEXT NOT NULL,
       updated_at INTEGER NOT NULL
     );
     """}
  ]

  for {entry, expected} <- Enum.with_index(@migrations, 1) do
    case entry do
      {^expected, name, sql} when is_binary(name) and is_binary(sql) ->
        :ok

      other ->
        raise CompileError,
          description:
            "migration entry #{expected} must be {#{expected}, name, sql}, got: #{inspect(other)}"
    end
  end

  @doc "Every migration, `{version, name, sql}`, versions 1, 2, … in order."
  @spec all() :: [{pos_integer, String.t(), String.t()}]
  def all, do: @migrations

  @doc "The schema version the migrations reach (0 when there are none)."
  @spec latest() :: non_neg_integer
  def latest, do: length(@migrations)
end
