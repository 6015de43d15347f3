defmodule Hudson.Desktop.Health do
  @moduledoc """
  The `/healthz` document the shell polls:

      {"status":"ok","version":"0.1.0","pid":1234,"nifs":{"hudson_nif":"ok"}}

  `status` is `"update_required"` when the remote server speaks a newer schema
  than this backend; the shell then offers an update instead of the UI. The
  reference backend has no remote server, so `HUDSON_SERVER_SCHEMA` stands in for
  the schema version a real app would learn from its server. Any NIF that is not
  `"ok"` means a damaged installation.

  A Phoenix app serves `build/1` from a controller (or a plug ahead of the
  router, so it needs no session), passing its own NIF modules.
  """

  @supported_schema Hudson.Desktop.Config.supported_schema()

  @doc """
  Options: `:server_schema` (integer or nil), `:supported_schema` (default 1), `:nifs` (modules
  exporting `nif_name/0` and `status/0`), `:version`, `:pid` (default: this VM's OS pid).
  """
  @spec build(keyword) :: [{String.t(), term}]
  def build(opts) do
    [
      {"status", status(opts[:server_schema], opts[:supported_schema] || @supported_schema)},
      {"version", Keyword.fetch!(opts, :version)},
      {"pid", Keyword.get_lazy(opts, :pid, &os_pid/0)},
      {"nifs", nif_statuses(Keyword.get(opts, :nifs, []))}
    ]
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
