defmodule Hudson.LifecycleTest do
  # The backend as a separate OS process, started and stopped the way the shell does.
  use ExUnit.Case, async: true

  alias Hudson.Test.BackendProcess, as: Backend
  import Hudson.Test.HTTP

  @moduletag :tmp_dir
  @moduletag timeout: 60_000

  defp start!(dir, opts \\ []) do
    backend = Backend.start(dir, opts)
    handshake = Backend.handshake!(backend)
    on_exit(fn -> Backend.kill(backend, handshake["pid"]) end)
    {backend, handshake}
  end

  defp assert_stopped(backend, vm_pid) do
    assert Backend.exit_status(backend, 5_000) == 0,
           "no exit 0 within 5 s; stderr:\n#{File.read!(backend.stderr)}"

    refute Backend.alive?(vm_pid)
  end

  test "announces itself as the shell's child and stops with exit 0 when stdin closes",
       %{tmp_dir: dir} do
    {backend, %{"port" => port, "pid" => pid} = handshake} = start!(dir)

    # The pid is the VM itself, a direct child of what the shell spawned.
    {ppid, 0} = System.cmd("ps", ["-o", "ppid=", "-p", to_string(pid)])
    assert String.trim(ppid) == to_string(Backend.wrapper_pid(backend))
    assert handshake["version"] == "0.1.0"
    assert Bitwise.band(File.stat!(backend.handshake_file).mode, 0o777) == 0o600

    assert %{"status" => "ok", "pid" => ^pid, "nifs" => %{"hudson_nif" => "ok"}} =
             Hudson.Test.JSON.decode!(get(port, "/healthz").body)

    Backend.close_stdin(backend)
    assert_stopped(backend, pid)

    assert File.read!(backend.stdout) == "PORT:#{port}\n"
    stderr = File.read!(backend.stderr)
    assert stderr =~ "stdin closed"
    refute stderr =~ handshake["token"]
  end

  test "stops with exit 0 on SIGTERM", %{tmp_dir: dir} do
    {backend, %{"port" => port, "pid" => pid}} = start!(dir)
    assert get(port, "/healthz").status == 200

    {_, 0} = System.cmd("kill", ["-TERM", to_string(pid)])
    assert_stopped(backend, pid)
  end

  test "HUDSON_IGNORE_STDIN=1 keeps it running without stdin", %{tmp_dir: dir} do
    {backend, %{"port" => port, "pid" => pid}} = start!(dir, env: [{"HUDSON_IGNORE_STDIN", "1"}])
    Backend.close_stdin(backend)
    Process.sleep(1_000)
    assert get(port, "/healthz").status == 200

    {_, 0} = System.cmd("kill", ["-TERM", to_string(pid)])
    assert_stopped(backend, pid)
  end

  test "with a data folder: migrates at boot, writes, and closes the database on stop",
       %{tmp_dir: dir} do
    data = Path.join(dir, "data")
    env = [{"HUDSON_DATA_DIR", data}, {"HUDSON_TEST_DB_WRITER", "50"}]
    {backend, %{"port" => port, "pid" => pid}} = start!(dir, env: env)
    file = Path.join(data, "db/hudson.sqlite3")
    latest = Hudson.Database.Migrations.latest()

    detail = fn ->
      %{"checks" => %{"database" => %{"status" => "ok", "detail" => detail}}} =
        Hudson.Test.JSON.decode!(get(port, "/healthz").body)

      detail
    end

    assert detail.() =~
             ~r/\Aschema #{latest}; \d+ cache entr(y|ies); db\/hudson.sqlite3 \(WAL\)\z/

    # The test writer: entries keep coming.
    Process.sleep(500)
    [_, written] = Regex.run(~r/; (\d+) cache/, detail.())
    assert String.to_integer(written) >= 3
    assert File.exists?(file <> "-wal")

    Backend.close_stdin(backend)
    assert_stopped(backend, pid)
    refute File.exists?(file <> "-wal"), "a graceful stop left the -wal"
    stderr = File.read!(backend.stderr)
    assert stderr =~ "database: migrated #{file} from schema 0 to 1 (create the cache table)"
    assert stderr =~ "database: opened #{file}, migrated to schema #{latest}"

    {:ok, conn} = Hudson.Native.db_open(file)

    {:ok, [[ticks, versions]]} =
      Hudson.Native.db_query(
        conn,
        "SELECT count(*), group_concat(DISTINCT written_by) FROM cache WHERE key LIKE 'tick-%'",
        []
      )

    :ok = Hudson.Native.db_close(conn)
    assert ticks >= String.to_integer(written)
    assert versions == "0.1.0"
  end

  test "a missing NIF leaves a running backend that reports it", %{tmp_dir: dir} do
    # The app's code without its priv/native: what a damaged installation looks like.
    ebin = Path.join([dir, "lib", "hudson", "ebin"])
    File.mkdir_p!(ebin)
    File.cp_r!(Application.app_dir(:hudson, "ebin"), ebin)

    {backend, %{"port" => port, "pid" => pid, "token" => token}} =
      start!(dir, ebin: ebin, env: [{"HUDSON_DATA_DIR", Path.join(dir, "data")}])

    %{"status" => "ok", "nifs" => %{"hudson_nif" => error}, "checks" => checks} =
      Hudson.Test.JSON.decode!(get(port, "/healthz").body)

    assert error =~ "libhudson_nif"
    assert %{"status" => "down", "detail" => detail} = checks["database"]
    assert detail =~ "the hudson_nif library did not load"

    entered = get(port, "/desktop/enter?token=#{token}")
    assert entered.status == 500
    assert entered.body =~ "installation damaged"

    Backend.close_stdin(backend)
    assert_stopped(backend, pid)
  end
end
