defmodule Hudson.DatabaseTest do
  # The real NIF and real files: each test its own data folder and process.
  use ExUnit.Case, async: true

  alias Hudson.Database
  alias Hudson.Database.Migrations
  alias Hudson.Native

  @moduletag :tmp_dir
  # Refusals are logged as errors; shown only when a test fails.
  @moduletag :capture_log

  defp start(dir, opts \\ []) do
    name = :"hudson_db_#{System.unique_integer([:positive])}"
    opts = Keyword.merge([name: name, data_dir: dir], opts)
    pid = start_supervised!({Database, opts}, id: name, restart: :temporary)
    %{name: name, pid: pid, file: Path.join(dir, "db/hudson.sqlite3")}
  end

  defp stop(%{name: name}), do: stop_supervised!(name)

  # A second connection, as another reader would open it.
  defp peek(file, sql) do
    {:ok, conn} = Native.db_open(file)
    {:ok, rows} = Native.db_query(conn, sql, [])
    :ok = Native.db_close(conn)
    rows
  end

  describe "opening" do
    test "creates db/hudson.sqlite3 in WAL mode at the latest schema", %{tmp_dir: dir} do
      db = start(dir)
      latest = Migrations.latest()
      assert latest >= 1

      assert {:ok, %{schema: ^latest, entries: 0, path: path}} = Database.status(db.name)
      assert path == db.file
      assert Database.schema_version(db.name) == {:ok, latest}
      # The -wal exists while the database is open.
      assert File.exists?(db.file <> "-wal")
      assert peek(db.file, "PRAGMA journal_mode") == [["wal"]]
      assert peek(db.file, "PRAGMA user_version") == [[latest]]

      assert peek(db.file, "SELECT name FROM pragma_table_info('cache') ORDER BY cid") ==
               [["key"], ["value"], ["written_by"], ["updated_at"]]

      stop(db)
      # A graceful stop closes the connection: SQLite checkpoints, no -wal left.
      refute File.exists?(db.file <> "-wal")
      refute File.exists?(db.file <> "-shm")
    end

    test "without a data folder there is no database, and every call says why" do
      name = :"hudson_db_#{System.unique_integer([:positive])}"
      start_supervised!({Database, name: name, data_dir: nil})
      reason = "HUDSON_DATA_DIR is not set: no database"
      assert Database.status(name) == {:error, reason}
      assert Database.put("k", "v", name) == {:error, reason}
      assert Database.get("k", name) == {:error, reason}
      assert Database.list(name) == {:error, reason}
    end

    test "a file that is not a database is reported, not fatal", %{tmp_dir: dir} do
      File.mkdir_p!(Path.join(dir, "db"))
      File.write!(Path.join(dir, "db/hudson.sqlite3"), String.duplicate("not sqlite ", 500))
      db = start(dir)
      assert {:error, reason} = Database.status(db.name)
      assert reason =~ "file is not a database"
      assert reason =~ db.file
      assert Process.alive?(db.pid)
    end

    test "a process that is not running answers an error, not an exit" do
      assert Database.status(:no_such_database) ==
               {:error, "the database process is not running"}
    end
  end

  describe "migrations" do
    test "the list is numbered 1, 2, … and is one literal closed by a line `  ]`" do
      versions = for {v, _name, _sql} <- Migrations.all(), do: v
      assert versions == Enum.to_list(1..Migrations.latest())

      text = File.read!("lib/hudson/database/migrations.ex")
      [_, after_open] = String.split(text, "  @migrations [\n", parts: 2)
      [list, _] = String.split(after_open, "\n  ]\n", parts: 2)
      assert String.ends_with?(list, ~s("""})), "the last entry must end in a heredoc and }"
    end

    test "a failing migration is rolled back and reported; the earlier ones stay", %{
      tmp_dir: dir
    } do
      broken = [
        {Migrations.latest() + 1, "a broken one",
         "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"}
      ]

      db = start(dir, migrations: Migrations.all() ++ broken)
      assert {:error, reason} = Database.status(db.name)

      assert reason =~
               "migration #{Migrations.latest() + 1} (a broken one) failed and was rolled back, " <>
                 "leaving #{db.file} at schema #{Migrations.latest()}: "

      assert reason =~ "no such table: no_such_table"
      stop(db)
      assert peek(db.file, "PRAGMA user_version") == [[Migrations.latest()]]
      assert peek(db.file, "SELECT count(*) FROM sqlite_master WHERE name = 'half'") == [[0]]

      # The same version without the broken migration opens the database fine.
      db = start(dir)
      assert {:ok, _} = Database.status(db.name)
    end

    test "a database from a newer version is refused and left untouched", %{tmp_dir: dir} do
      file = Path.join(dir, "db/hudson.sqlite3")
      File.mkdir_p!(Path.dirname(file))
      newer = Migrations.latest() + 1
      {:ok, conn} = Native.db_open(file)

      :ok =
        Native.db_execute_batch(conn, "CREATE TABLE later (x); PRAGMA user_version = #{newer};")

      :ok = Native.db_close(conn)
      before = File.read!(file)

      db = start(dir)

      reason =
        "the database has schema #{newer}, newer than this version of Hudson knows " <>
          "(#{Migrations.latest()}): it was written by a newer version"

      assert Database.status(db.name) == {:error, reason}
      assert Database.put("k", "v", db.name) == {:error, reason}
      stop(db)

      assert File.read!(file) == before
      assert File.ls!(Path.dirname(file)) == ["hudson.sqlite3"]
    end
  end

  describe "the cache" do
    test "put, get and list round-trip, with the writer's version", %{tmp_dir: dir} do
      db = start(dir)
      before = System.os_time(:millisecond)
      assert Database.put("b", "two", db.name) == :ok
      assert Database.put("a", "one ✓", db.name) == :ok
      assert Database.put("b", "deux", db.name) == :ok
      assert Database.get("a", db.name) == {:ok, "one ✓"}
      assert Database.get("b", db.name) == {:ok, "deux"}
      assert Database.get("c", db.name) == {:error, :not_found}

      assert {:ok, [a, b]} = Database.list(db.name)
      assert %{key: "a", value: "one ✓", written_by: "0.1.0"} = a
      assert %{key: "b", value: "deux", written_by: "0.1.0"} = b
      assert a.updated_at >= before and a.updated_at <= System.os_time(:millisecond)
      assert {:ok, %{entries: 2}} = Database.status(db.name)
    end

    test "entries persist across a close and a reopen", %{tmp_dir: dir} do
      db = start(dir)
      assert Database.put("kept", "across restarts", db.name) == :ok
      stop(db)
      refute File.exists?(db.file <> "-wal")

      db = start(dir)
      assert Database.get("kept", db.name) == {:ok, "across restarts"}
      assert {:ok, %{schema: schema}} = Database.status(db.name)
      assert schema == Migrations.latest()
    end

    test "keys and values are bounded and must be text", %{tmp_dir: dir} do
      db = start(dir)
      %{key: max_key, value: max_value} = Database.limits()
      assert {max_key, max_value} == {200, 65_536}

      assert Database.put(
               String.duplicate("k", max_key),
               String.duplicate("v", max_value),
               db.name
             ) ==
               :ok

      assert Database.put(String.duplicate("k", max_key + 1), "v", db.name) ==
               {:error, "the key is 201 bytes; at most 200 bytes are stored"}

      assert Database.put("k", String.duplicate("v", max_value + 1), db.name) ==
               {:error, "the value is 65537 bytes; at most 65536 bytes are stored"}

      assert Database.put("", "v", db.name) == {:error, "the key is empty"}
      assert Database.put("k", <<255>>, db.name) == {:error, "the value is not UTF-8 text"}
      assert Database.put(:k, "v", db.name) == {:error, "the key must be a string"}
      assert Database.get(String.duplicate("k", 201), db.name) |> elem(0) == :error
      assert {:ok, %{entries: 1}} = Database.status(db.name)
    end

    test "the HUDSON_TEST_DB_WRITER hook writes ticks while running", %{tmp_dir: dir} do
      db = start(dir, writer_ms: 20)
      Process.sleep(400)
      stop(db)

      rows = peek(db.file, "SELECT key, value, written_by FROM cache ORDER BY updated_at")
      assert length(rows) >= 3

      for {[key, value, by], n} <- Enum.with_index(rows, 1) do
        assert key =~ ~r/\Atick-\d{13}-#{n}\z/
        assert value == "tick #{n}"
        assert by == "0.1.0"
      end
    end

    @sqlite3 System.find_executable("sqlite3")
    @tag skip: @sqlite3 == nil && "the sqlite3 command is not installed (apt-get install sqlite3)"
    test "the sqlite3 command reads what was written, while the database is open", %{
      tmp_dir: dir
    } do
      db = start(dir)
      assert Database.put("independent", "read by sqlite3", db.name) == :ok

      {out, 0} =
        System.cmd(@sqlite3, [
          "-readonly",
          db.file,
          "PRAGMA journal_mode; PRAGMA user_version; SELECT value, written_by FROM cache;"
        ])

      assert out == "wal\n#{Migrations.latest()}\nread by sqlite3|0.1.0\n"
      stop(db)

      {out, 0} = System.cmd(@sqlite3, [db.file, "PRAGMA integrity_check;"])
      assert out == "ok\n"
    end
  end

  describe "the NIF" do
    test "WAL while open, no -wal after db_close, and closed stays closed", %{tmp_dir: dir} do
      file = Path.join(dir, "raw.sqlite3")
      assert {:ok, conn} = Native.db_open(file)
      assert Native.db_execute_batch(conn, "CREATE TABLE t (a, b);") == :ok

      assert Native.db_execute(conn, "INSERT INTO t VALUES (?1, ?2)", [1, "x"]) == {:ok, 1}
      assert Native.db_execute(conn, "INSERT INTO t VALUES (?, ?)", [2.5, nil]) == {:ok, 1}
      assert Native.db_execute(conn, "INSERT INTO t VALUES (?, ?)", [3, <<0, 255>>]) == {:ok, 1}
      assert Native.db_execute(conn, "UPDATE t SET b = 'y' WHERE a > 0", []) == {:ok, 3}

      assert Native.db_query(conn, "SELECT a, b, typeof(b) FROM t ORDER BY a", []) ==
               {:ok, [[1, "y", "text"], [2.5, "y", "text"], [3, "y", "text"]]}

      assert Native.db_query(conn, "SELECT x'00ff', NULL", []) == {:ok, [[<<0, 255>>, nil]]}
      assert Native.db_query(conn, "PRAGMA journal_mode", []) == {:ok, [["wal"]]}
      assert File.exists?(file <> "-wal")

      assert Native.db_close(conn) == :ok
      refute File.exists?(file <> "-wal")
      refute File.exists?(file <> "-shm")
      assert Native.db_close(conn) == :ok

      for result <- [
            Native.db_query(conn, "SELECT 1", []),
            Native.db_execute(conn, "DELETE FROM t", []),
            Native.db_execute_batch(conn, "DELETE FROM t")
          ] do
        assert result == {:error, "the database is closed"}
      end
    end

    test "bad input is an error naming what failed, never a crash", %{tmp_dir: dir} do
      {:ok, conn} = Native.db_open(Path.join(dir, "raw.sqlite3"))

      assert {:error,
              "preparing the statement failed: no such table: nope (SQL: SELECT * FROM nope)"} =
               Native.db_query(conn, "SELECT * FROM nope", [])

      assert {:error, "parameter 2 is an atom other than nil; " <> _} =
               Native.db_query(conn, "SELECT ?, ?", [1, :x])

      assert {:error, "parameter 1 is an integer outside SQLite's 64-bit range"} =
               Native.db_query(conn, "SELECT ?", [Bitwise.bsl(1, 64)])

      assert {:error, "the parameters must be a list"} = Native.db_query(conn, "SELECT 1", "x")
      assert {:error, "the SQL is not UTF-8: " <> _} = Native.db_query(conn, <<255>>, [])
      assert {:error, msg} = Native.db_query(conn, "SELECT ?", [])
      assert msg =~ "Wrong number of parameters"
      assert {:error, msg} = Native.db_execute(conn, "SELECT 1", [])
      assert msg =~ "the statement returns rows; run it with db_query"
      assert {:error, msg} = Native.db_execute(conn, "SELECT 1; SELECT 2", [])
      assert msg =~ "more than one statement"

      many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
      assert {:ok, rows} = Native.db_query(conn, many <> " LIMIT 10000", [])
      assert length(rows) == 10_000

      assert {:error, "the query returned more than 10000 rows; " <> _} =
               Native.db_query(conn, many <> " LIMIT 10001", [])

      assert {:error, msg} = Native.db_open(Path.join(dir, "no/such/folder/x.sqlite3"))
      assert msg =~ "cannot open the database #{dir}/no/such/folder/x.sqlite3"
      assert {:error, "the database path is empty"} = Native.db_open("")

      # Arguments of the wrong type are errors too, not ArgumentError.
      assert Native.db_open(~c"/tmp/x.sqlite3") ==
               {:error, "the database path must be a string (a binary)"}

      assert Native.db_query(conn, :sql, []) == {:error, "the SQL must be a string (a binary)"}
      not_conn = {:error, "the connection is not one that db_open returned"}
      assert Native.db_query(make_ref(), "SELECT 1", []) == not_conn
      assert Native.db_execute(:conn, "SELECT 1", []) == not_conn
      assert Native.db_execute_batch(nil, "SELECT 1") == not_conn
      assert Native.db_close("conn") == not_conn
      :ok = Native.db_close(conn)
    end
  end
end

defmodule Hudson.DatabaseLogTest do
  # Not async: the migration lines are :info, and Logger runs at :warning under
  # test; raising Hudson.Database's level must not let other tests' lines through.
  use ExUnit.Case, async: false

  alias Hudson.Database
  alias Hudson.Database.Migrations

  @moduletag :tmp_dir

  defp start(dir, opts) do
    name = :"hudson_db_#{System.unique_integer([:positive])}"
    opts = Keyword.merge([name: name, data_dir: dir], opts)
    pid = start_supervised!({Database, opts}, id: name, restart: :temporary)
    %{name: name, pid: pid}
  end

  defp stop(%{name: name}), do: stop_supervised!(name)

  test "a new database gets every migration, each one logged", %{
    tmp_dir: dir
  } do
    migrations =
      Migrations.all() ++
        [{Migrations.latest() + 1, "a second table", "CREATE TABLE notes (body TEXT);"}]

    log =
      with_info_logs(fn ->
        db = start(dir, migrations: migrations)
        assert {:ok, %{schema: schema}} = Database.status(db.name)
        assert schema == Migrations.latest() + 1
        stop(db)
      end)

    assert log =~
             "database: migrated #{dir}/db/hudson.sqlite3 from schema 0 to 1 (create the cache table)"

    assert log =~ "to #{Migrations.latest() + 1} (a second table)"
    # The update tests wait for "to schema N" in the shell's log.
    assert log =~
             "database: opened #{dir}/db/hudson.sqlite3, migrated to schema #{Migrations.latest() + 1}"

    # Reopened with the same list: nothing to do.
    log = with_info_logs(fn -> stop(start(dir, migrations: migrations)) end)
    refute log =~ "migrated"
    assert log =~ "at schema #{Migrations.latest() + 1}, nothing to migrate"
  end

  # Logger runs at :warning under test; the migration lines are :info.
  defp with_info_logs(fun) do
    ExUnit.CaptureLog.capture_log([level: :info], fn ->
      Logger.put_module_level(Database, :info)

      try do
        fun.()
      after
        Logger.delete_module_level(Database)
      end
    end)
  end
end
