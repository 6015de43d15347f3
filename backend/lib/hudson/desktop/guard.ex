defmodule Hudson.Desktop.Guard do
  @moduledoc """
  Who may talk to the backend: pure functions over request values.

  * `host_allowed?/2` - the DNS-rebinding defence: a page on `evil.example`
    that rebinds its name to 127.0.0.1 still sends `Host: evil.example:<port>`.
  * `token_valid?/2` - the one-time door: the shell opens
    `/desktop/enter?token=<token>` with the token it put in the environment.
  * `session_valid?/2` and `session_cookie/1` - the cookie that door sets, so
    only the WebView that entered gets the UI.

  In a Phoenix app these become a plug in the endpoint before the router
  (`host_allowed?/2`, answering 421), the `/desktop/enter` controller
  (`token_valid?/2`, then `put_resp_cookie`) and a plug in the browser pipeline
  (`session_valid?/2`). Token and cookie comparisons use the NIF's constant-time
  `Hudson.Native.secure_compare/2`; `Plug.Crypto.secure_compare/2` does the same.
  """

  @cookie "hudson_session"

  @doc "The session cookie's name."
  def cookie_name, do: @cookie

  @doc """
  True when the request carries exactly one `Host` header and it names this
  server as `127.0.0.1:<port>` or `localhost:<port>`.
  """
  @spec host_allowed?([String.t()], :inet.port_number()) :: boolean
  def host_allowed?([host], port), do: host in ["127.0.0.1:#{port}", "localhost:#{port}"]
  def host_allowed?(_hosts, _port), do: false

  @doc "True when `given` is the handshake token."
  @spec token_valid?(String.t() | nil, String.t()) :: boolean
  def token_valid?(given, token) when is_binary(given),
    do: Hudson.Native.secure_compare(given, token)

  def token_valid?(_given, _token), do: false

  @doc "True when the `Cookie` headers carry this boot's session id."
  @spec session_valid?([String.t()], String.t()) :: boolean
  def session_valid?(cookie_headers, session_id) do
    cookie_headers
    |> Enum.flat_map(&cookie_values(&1, @cookie))
    |> Enum.any?(&Hudson.Native.secure_compare(&1, session_id))
  end

  @doc "A new random session id, one per boot."
  def new_session_id, do: Base.url_encode64(:crypto.strong_rand_bytes(32), padding: false)

  @doc """
  The cookie's value: the session id and its HMAC-SHA256 under
  `secret_key_base`, so a cookie is only good with the key this install keeps.
  """
  def signed_session(session_id, secret_key_base) do
    mac = :crypto.mac(:hmac, :sha256, secret_key_base, session_id)
    session_id <> "." <> Base.url_encode64(mac, padding: false)
  end

  @doc "The `Set-Cookie` value that hands out the session."
  def session_cookie(session_id),
    do: "#{@cookie}=#{session_id}; Path=/; HttpOnly; SameSite=Strict"

  defp cookie_values(header, name) do
    for pair <- String.split(header, ";"),
        [k, v] <- [pair |> String.trim() |> String.split("=", parts: 2)],
        k == name,
        do: v
  end
end
