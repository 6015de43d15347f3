defmodule Hudson.Web.Router do
  @moduledoc """
  The routes of the backend contract, as a pure function from a request and
  the server context to `{status, headers, body}`.

  Order matters: the Host check comes first, for every route, so a rebound DNS
  name gets nothing, not even `/healthz`.
  """
  alias Hudson.Desktop.{Guard, Health}
  alias Hudson.Web.{HTTP, Pages}

  @html_security [
    {"content-security-policy",
     "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"},
    {"x-frame-options", "DENY"}
  ]

  def call(request, ctx) do
    if Guard.host_allowed?(HTTP.header_values(request, "host"), ctx.port) do
      route(request.method, request.path, request, ctx)
    else
      text(421, "misdirected request: this server answers only to its loopback address\n")
    end
  end

  defp route("GET", "/healthz", _request, ctx) do
    health =
      Health.build(
        server_schema: ctx[:server_schema],
        version: Hudson.version(),
        nifs: [Hudson.Native]
      )

    {200, [{"content-type", "application/json"}], Hudson.JSON.encode!(health)}
  end

  defp route("GET", "/desktop/enter", request, ctx) do
    with :ok <- nif_ready(),
         {:ok, token} <- query_param(request, "token"),
         %{token: expected, session_id: session_id} = ctx.secrets.(),
         true <- Guard.token_valid?(token, expected) do
      {303, [{"location", "/"}, {"set-cookie", Guard.session_cookie(session_id)}], ""}
    else
      {:error, response} -> response
      _ -> html(403, Pages.forbidden())
    end
  end

  defp route("GET", path, request, ctx) when path in ["/", "/settings"] do
    with :ok <- nif_ready(),
         %{session_id: session_id} = ctx.secrets.(),
         true <- Guard.session_valid?(HTTP.header_values(request, "cookie"), session_id) do
      html(200, if(path == "/", do: Pages.home(), else: Pages.settings(ctx)))
    else
      {:error, response} -> response
      false -> html(403, Pages.forbidden())
    end
  end

  defp route(_method, path, _request, _ctx)
       when path in ["/healthz", "/desktop/enter", "/", "/settings"] do
    {405, [{"allow", "GET"}, {"content-type", "text/plain; charset=utf-8"}],
     "method not allowed\n"}
  end

  defp route(_method, _path, _request, _ctx), do: text(404, "not found\n")

  # Without the NIF there is no constant-time comparison, so nobody gets in.
  defp nif_ready do
    case Hudson.Native.status() do
      :ok -> :ok
      _error -> {:error, text(500, "installation damaged: the hudson_nif library did not load\n")}
    end
  end

  defp query_param(request, name) do
    case URI.decode_query(request.query) do
      %{^name => value} -> {:ok, value}
      _ -> :missing
    end
  rescue
    ArgumentError -> {:error, text(400, "bad query string\n")}
  end

  defp html(status, body),
    do: {status, [{"content-type", "text/html; charset=utf-8"} | @html_security], body}

  @doc "A plain-text response."
  def text(status, body), do: {status, [{"content-type", "text/plain; charset=utf-8"}], body}
end
