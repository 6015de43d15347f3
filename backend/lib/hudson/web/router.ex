defmodule Hudson.Web.Router do
  @moduledoc """
  The routes of the backend contract, as a pure function from a request and
  the server context to `{status, headers, body}`.

  Order matters: the Host check comes first, for every route, so a rebound DNS
  name gets nothing, not even `/healthz`.
  """
  require Logger
  alias Hudson.Desktop.{Guard, Health, SecretKeyBase}
  alias Hudson.Web.{HTTP, Pages}

  @html_security [
    {"content-security-policy",
     "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"},
    {"x-frame-options", "DENY"}
  ]

  # The one credential the settings page stores.
  @credential "openai_api_key"

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
        nifs: [Hudson.Native],
        checks:
          Health.reference_checks(ctx[:data_dir], database(ctx)) ++
            forced_down(ctx[:check_down])
      )

    {200, [{"content-type", "application/json"}], Hudson.JSON.encode!(health)}
  end

  defp route("GET", "/desktop/enter", request, ctx) do
    with :ok <- nif_ready(),
         {:ok, token} <- query_param(request, "token"),
         %{token: expected, session_id: session_id} = ctx.secrets.(),
         true <- Guard.token_valid?(token, expected) do
      cookie = Guard.session_cookie(Guard.signed_session(session_id, SecretKeyBase.fetch()))
      {303, [{"location", "/"}, {"set-cookie", cookie}], ""}
    else
      {:error, response} -> response
      _ -> html(403, Pages.forbidden())
    end
  end

  defp route("GET", path, request, ctx) when path in ["/", "/settings"] do
    with :ok <- nif_ready(),
         true <- session?(request, ctx) do
      html(200, if(path == "/", do: Pages.home(), else: Pages.settings(ctx, credential())))
    else
      {:error, response} -> response
      false -> html(403, Pages.forbidden())
    end
  end

  # The settings form: stores or deletes the one credential. Same-origin
  # only (the Origin header), on top of the SameSite=Strict session cookie.
  defp route("POST", "/settings/credential", request, ctx) do
    form_post(request, ctx, "/settings", fn
      %{"delete" => _} -> Hudson.SecureStorage.delete(@credential)
      %{"value" => value} when value != "" -> Hudson.SecureStorage.put(@credential, value)
      _ -> {:error, :empty}
    end)
  end

  # The local database's cache: its schema version and entries, and a form.
  defp route("GET", "/cache", request, ctx) do
    with :ok <- nif_ready(),
         true <- session?(request, ctx),
         {:ok, notice} <- cache_notice(request) do
      db = database(ctx)
      html(200, Pages.cache(Hudson.Database.status(db), Hudson.Database.list(db), notice))
    else
      {:error, response} -> response
      false -> html(403, Pages.forbidden())
    end
  end

  # Stores one entry (form fields `key` and `value`); same-origin only, as
  # /settings/credential.
  defp route("POST", "/cache", request, ctx) do
    form_post(request, ctx, "/cache", fn
      %{"key" => key, "value" => value} -> Hudson.Database.put(key, value, database(ctx))
      _ -> {:error, "the form needs the fields key and value"}
    end)
  end

  # Test hook (HUDSON_STORAGE_SELFTEST=1, never set by the shell): storage
  # calls driven from outside, answering digests, never values.
  defp route("GET", "/desktop/selftest/storage", request, %{storage_selftest: true} = ctx) do
    with {:ok, token} <- query_param(request, "token"),
         %{token: expected} = ctx.secrets.(),
         true <- Guard.token_valid?(token, expected),
         params = URI.decode_query(request.query) do
      {200, [{"content-type", "application/json"}], Hudson.JSON.encode!(selftest(params))}
    else
      {:error, response} -> response
      _ -> text(403, "forbidden\n")
    end
  end

  defp route(_method, "/cache", _request, _ctx) do
    {405, [{"allow", "GET, POST"}, {"content-type", "text/plain; charset=utf-8"}],
     "method not allowed\n"}
  end

  defp route(_method, "/settings/credential", _request, _ctx) do
    {405, [{"allow", "POST"}, {"content-type", "text/plain; charset=utf-8"}],
     "method not allowed\n"}
  end

  defp route(_method, path, _request, _ctx)
       when path in ["/healthz", "/desktop/enter", "/", "/settings"] do
    {405, [{"allow", "GET"}, {"content-type", "text/plain; charset=utf-8"}],
     "method not allowed\n"}
  end

  defp route(_method, _path, _request, _ctx), do: text(404, "not found\n")

  defp database(ctx), do: ctx[:database] || Hudson.Database

  # A form POST from the app's own pages: NIF loaded, a session, the same
  # Origin; `store` gets the decoded form and answers `:ok` or
  # `{:error, reason}`, and the page at `back` is told which.
  defp form_post(request, ctx, back, store) do
    with :ok <- nif_ready(),
         true <- session?(request, ctx),
         true <- origin?(request, ctx),
         {:ok, form} <- form(request) do
      query =
        case store.(form) do
          :ok -> "saved"
          {:error, reason} -> URI.encode_query(%{"error" => reason})
        end

      {303, [{"location", back <> "?" <> query}], ""}
    else
      {:error, response} -> response
      _ -> html(403, Pages.forbidden())
    end
  end

  # What the last POST /cache said, from the query it redirected to.
  defp cache_notice(request) do
    case URI.decode_query(request.query) do
      %{"error" => reason} -> {:ok, {:error, reason}}
      %{"saved" => _} -> {:ok, :saved}
      _ -> {:ok, nil}
    end
  rescue
    ArgumentError -> {:error, text(400, "bad query string\n")}
  end

  # Test hook (HUDSON_CHECK_DOWN=<name>): one more check, reported down.
  defp forced_down(nil), do: []

  defp forced_down(name),
    do: [{name, fn -> {:down, "forced down by the HUDSON_CHECK_DOWN test hook"} end}]

  defp session?(request, ctx) do
    %{session_id: session_id} = ctx.secrets.()
    expected = Guard.signed_session(session_id, SecretKeyBase.fetch())
    Guard.session_valid?(HTTP.header_values(request, "cookie"), expected)
  end

  defp origin?(request, ctx),
    do:
      HTTP.header_values(request, "origin") in [
        ["http://127.0.0.1:#{ctx.port}"],
        ["http://localhost:#{ctx.port}"]
      ]

  defp form(request) do
    {:ok, URI.decode_query(request.body)}
  rescue
    ArgumentError -> {:error, text(400, "bad form\n")}
  end

  # What the settings page shows: the credential masked, or why not.
  defp credential do
    case Hudson.SecureStorage.get(@credential) do
      {:ok, value} -> {:stored, value}
      {:error, :not_found} -> :not_set
      {:error, reason} -> {:error, reason, Hudson.SecureStorage.last_error()}
    end
  end

  defp selftest(%{"op" => "put", "key" => key, "value" => value}),
    do: outcome(Hudson.SecureStorage.put(key, value))

  defp selftest(%{"op" => "delete", "key" => key}),
    do: outcome(Hudson.SecureStorage.delete(key))

  defp selftest(%{"op" => "get", "key" => key}) do
    case Hudson.SecureStorage.get(key) do
      {:ok, value} -> [{"ok", true}, {"sha256", sha256(value)}, {"bytes", byte_size(value)}]
      error -> outcome(error)
    end
  end

  # A stored value in a log line that no redaction pattern matches: the
  # shell must mask it because it handed the value out.
  defp selftest(%{"op" => "log", "key" => key}) do
    case Hudson.SecureStorage.get(key) do
      {:ok, value} ->
        Logger.warning("selftest: the value of #{key} is #{value}")
        [{"ok", true}]

      error ->
        outcome(error)
    end
  end

  # n concurrent callers, each putting its own random value under its own
  # key, reading it back and deleting it: every answer must be its own.
  defp selftest(%{"op" => "concurrent", "n" => n}) do
    n = n |> String.to_integer() |> min(1000)

    results =
      1..n
      |> Enum.map(fn i ->
        Task.async(fn ->
          key = "selftest-#{i}"
          value = Base.encode64(:crypto.strong_rand_bytes(24))

          with :ok <- Hudson.SecureStorage.put(key, value),
               {:ok, ^value} <- Hudson.SecureStorage.get(key),
               :ok <- Hudson.SecureStorage.delete(key) do
            :ok
          else
            {:ok, _other} -> :crossed
            {:error, reason} -> reason
          end
        end)
      end)
      |> Task.await_many(120_000)

    failures = for r <- results, r != :ok, do: to_string(r)
    [{"ok", failures == []}, {"calls", 3 * n}, {"failures", Enum.join(failures, ",")}]
  end

  defp selftest(_params), do: [{"ok", false}, {"error", "unknown op"}]

  defp outcome(:ok), do: [{"ok", true}]
  defp outcome({:error, reason}), do: [{"ok", false}, {"error", to_string(reason)}]

  defp sha256(value), do: :crypto.hash(:sha256, value) |> Base.encode16(case: :lower)

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
