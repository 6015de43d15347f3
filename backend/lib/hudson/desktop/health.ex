defmodule Hudson.Desktop.Health do
  @moduledoc """
  The `/healthz` document the shell polls:

      {"status":"ok","version":"0.1.0","pid":1234,"nifs":{"hudson_nif":"ok"}}

  `status` is `"update_required"` when the remote server speaks a newer schema
  than this backend; the shell then offers an update instead of the UI. The
  reference backend has no remote server, so `HUDSON_SERVER_SCHEMA` stands in for
  the schema version a real app would learn from its server. Any NIF that is not
  `"ok"` means a damaged installation.

  Named checks (optional in the contract) feed the shell's Diagnostics window:
  `"checks": {"<name>": {"status": "ok" | "degraded" | "down", "detail": "…",
  "latency_ms": N}}`. The reference backend reports what it really has: its
  data folder (writable?), its NIF, its local database and its uptime. A Phoenix app passes its own
  in `:checks`, each run through `run_check/1` (database, Shopify, OpenAI
  reachability), and keeps them fast: the window asks every two seconds.

  A Phoenix app serves `build/1` from a controller (or a plug ahead of the
  router, so it needs no session), passing its own NIF modules.
  """

  @supported_schema Hudson.Desktop.Config.supported_schema()

  @doc """
  Options: `:server_schema` (integer or nil), `:supported_schema` (default 1), `:nifs` (modules
  exporting `nif_name/0` and `status/0`), `:version`, `:pid` (default: this VM's OS pid),
  `:checks` (`[{name, fun}]`, each fun returning `:ok`, `{:degraded, detail}` or
  `{:down, detail}`; none by default).
  """
  @spec build(keyword) :: [{String.t(), term}]
  def build(opts) do
    checks = for {name, fun} <- Keyword.get(opts, :checks, []), do: {name, run_check(fun)}

    [
      {"status", status(opts[:server_schema], opts[:supported_schema] || @supported_schema)},
      {"version", Keyword.fetch!(opts, :version)},
      {"pid", Keyword.get_lazy(opts, :pid, &os_pid/0)},
      {"nifs", nif_statuses(Keyword.get(opts, :nifs, []))},
      {"erts", "erts-" <> to_string(:erlang.system_info(:version))}
    ] ++ if(checks == [], do: [], else: [{"checks", checks}])
  end

  @doc """
  Runs one check and times it: `fun` returns `:ok`, `{:ok, detail}`,
  `{:degraded, detail}` or `{:down, detail}`; a raise is `down`.
  """
  def run_check(fun) do
    started = System.monotonic_time(:microsecond)

    {status, detail} =
      try do
        case fun.() do
          :ok -> {"ok", ""}
          {:ok, detail} -> {"ok", detail}
          {:degraded, detail} -> {"degraded", detail}
          {:down, detail} -> {"down", detail}
        end
      rescue
        e -> {"down", Exception.message(e)}
      end

    latency = div(System.monotonic_time(:microsecond) - started, 1000)
    [{"status", status}, {"detail", detail}, {"latency_ms", latency}]
  end

  @doc """
  The reference backend's checks: its data folder, its NIF, its local
  database (`database`: `schema N; M cache entries; db/hudson.sqlite3 (WAL)`
  when open and migrated, else down with the reason; the update tests read
  the schema from that detail) and its uptime.
  """
  def reference_checks(data_dir, database \\ Hudson.Database) do
    [
      {"data_folder", fn -> data_folder(data_dir) end},
      {"nif",
       fn -> with(:ok <- Hudson.Native.status(), do: {:ok, "hudson_nif loaded"}) |> nif() end},
      {"database", fn -> database(database) end},
      {"uptime", fn -> {:ok, "up #{div(elem(:erlang.statistics(:wall_clock), 0), 1000)} s"} end}
    ]
  end

  defp nif({:ok, _} = ok), do: ok
  defp nif(error), do: {:down, "hudson_nif did not load: #{error}"}

  # The window asks every two seconds: a database busy for longer is down.
  defp database(server) do
    case Hudson.Database.status(server, 2_000) do
      {:ok, %{schema: schema, entries: entries}} ->
        noun = if entries == 1, do: "entry", else: "entries"

        {:ok,
         "schema #{schema}; #{entries} cache #{noun}; #{Hudson.Database.relative_path()} (WAL)"}

      {:error, reason} ->
        {:down, reason}
    end
  end

  defp data_folder(nil), do: {:degraded, "HUDSON_DATA_DIR is not set"}

  defp data_folder(dir) do
    probe = Path.join(dir, ".healthz-#{System.pid()}")

    case File.write(probe, "") do
      :ok ->
        File.rm(probe)
        {:ok, "writable: #{dir}"}

      {:error, reason} ->
        {:down, "cannot write to #{dir}: #{:file.format_error(reason)}"}
    end
  end

  @doc "`\"ok\"` unless the server's schema is newer than the one supported."
  def status(server_schema, supported)
      when is_integer(server_schema) and server_schema > supported,
      do: "update_required"

  def status(_server_schema, _supported), do: "ok"

  @doc "`%{name => \"ok\" | error}` for NIF modules."
  def nif_statuses(modules) do
    Map.new(modules, fn mod ->
      {mod.nif_name(), with(:ok <- mod.status(), do: "ok")}
    end)
  end

  @doc "This VM's OS pid, as the shell sees its child."
  def os_pid, do: String.to_integer(System.pid())
end
