defmodule Hudson.Test.HTTP do
  @moduledoc "A raw HTTP/1.1 client on :gen_tcp, so tests control every header (Host included)."

  @doc """
  Options: `:host` (default `127.0.0.1:<port>`; `nil` sends none), `:headers`
  (extra `{name, value}`), `:method` (default "GET"), `:body` (sent with its
  `Content-Length`; default none).
  """
  def request(port, path, opts \\ []) do
    host = Keyword.get(opts, :host, "127.0.0.1:#{port}")
    body = Keyword.get(opts, :body)
    length = if body, do: [{"Content-Length", byte_size(body)}], else: []
    headers = if(host, do: [{"Host", host}], else: []) ++ Keyword.get(opts, :headers, [])
    headers = headers ++ length
    method = Keyword.get(opts, :method, "GET")

    {:ok, socket} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false], 5_000)

    :ok =
      :gen_tcp.send(socket, [
        "#{method} #{path} HTTP/1.1\r\n",
        for({k, v} <- headers, do: "#{k}: #{v}\r\n"),
        "\r\n",
        body || ""
      ])

    raw = recv_all(socket, "")
    :gen_tcp.close(socket)
    parse(raw)
  end

  def get(port, path, opts \\ []), do: request(port, path, opts)

  @doc "POSTs `form` (`[{name, value}]`) URL-encoded, with `:headers` and `:host` as `request/3`."
  def post_form(port, path, form, opts \\ []) do
    headers = [
      {"Content-Type", "application/x-www-form-urlencoded"} | Keyword.get(opts, :headers, [])
    ]

    request(
      port,
      path,
      Keyword.merge(opts, method: "POST", body: URI.encode_query(form), headers: headers)
    )
  end

  @doc "All values of a header (name in lower case)."
  def header(response, name), do: for({^name, v} <- response.headers, do: v)

  defp recv_all(socket, acc) do
    case :gen_tcp.recv(socket, 0, 5_000) do
      {:ok, data} -> recv_all(socket, acc <> data)
      {:error, :closed} -> acc
    end
  end

  defp parse(raw) do
    [head, body] = String.split(raw, "\r\n\r\n", parts: 2)
    ["HTTP/1.1 " <> status_line | lines] = String.split(head, "\r\n")
    {status, _reason} = Integer.parse(status_line)

    headers =
      for line <- lines do
        [k, v] = String.split(line, ":", parts: 2)
        {String.downcase(k), String.trim(v)}
      end

    [length] = for {"content-length", v} <- headers, do: String.to_integer(v)
    ^length = byte_size(body)
    %{status: status, headers: headers, body: body}
  end
end
